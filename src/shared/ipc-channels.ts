// Every IPC channel between Electron's main process and the preload, in one place (as
// electron/fiddle keeps them): main handles or sends exactly these, the preload uses exactly these.
export const IPC_CHANNELS = {
  /** renderer → main: one engine protocol command; answered with its result. */
  engineRequest: 'engine:request',
  /** main → renderer: every engine event (progress, metrics, restarts). */
  engineEvent: 'engine:event',
  /** renderer → main: the native folder dialog; answered with the chosen path or null. */
  chooseFolder: 'dialog:choose-folder'
} as const

export type IpcChannel = (typeof IPC_CHANNELS)[keyof typeof IPC_CHANNELS]
