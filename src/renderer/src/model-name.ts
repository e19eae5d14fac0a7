// How a model is named to a person: by its run, never by its full path. A run saves its model in
// <run folder>/model, so the run folder's name is the model's; a model saved elsewhere goes by its
// own folder's name.

/** The last part of a path written with / or \ (the renderer has no Node path module). */
function baseName(dir: string): string {
  return (
    dir
      .replace(/[/\\]+$/, '')
      .split(/[/\\]/)
      .at(-1) ?? dir
  )
}

export function modelName(dir: string): string {
  const trimmed = dir.replace(/[/\\]+$/, '')
  const base = baseName(trimmed)
  return base === 'model' ? baseName(trimmed.slice(0, -base.length)) || base : base
}

/** What the plain ImageNet classifier of a backbone is called. */
export const imageNetName = (backbone: string): string => `ImageNet (${backbone})`
