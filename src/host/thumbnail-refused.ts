/** A thumbnail that will not be made: not a regular file, too large, not an image record. */
export class ThumbnailRefused extends Error {
  override name = 'ThumbnailRefused'
}
