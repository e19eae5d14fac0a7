// Counts in words: "1 image", "2 images", "1,204 images".

/** `count` and the noun, in the singular for exactly one; the plural is the noun plus "s" unless given. */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count.toLocaleString('en')} ${count === 1 ? noun : pluralNoun}`
}
