// The one permission the app asks for: the camera, for the Predict view's captures, and only for
// its own window's main frame. Everything else (microphone, notifications, location, …) is denied.

/** Whether a request or check for `permission` may be granted. */
export function permissionAllowed(permission: string, mediaTypes: readonly string[], fromOurPage: boolean): boolean {
  return fromOurPage && permission === 'media' && mediaTypes.length > 0 && mediaTypes.every((type) => type === 'video')
}
