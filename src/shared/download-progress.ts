// One line for a download in progress, the same in the app and on the command line:
// "Downloading resnet50 weights: 12.3 of 102.6 MB · 4.1 MB/s · 22 s left".
import type { DownloadProgress } from './protocol'

export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(0)} kB`
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`
  return `${(bytes / 1e9).toFixed(2)} GB`
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

export function describeDownload(progress: DownloadProgress): string {
  const verb = progress.action === 'copying' ? 'Copying' : 'Downloading'
  const what = progress.label ?? progress.backbone
  const amount = progress.totalBytes ? `${formatBytes(progress.bytes)} of ${formatBytes(progress.totalBytes)}` : formatBytes(progress.bytes)
  const parts = [`${verb} ${what}${progress.action === 'copying' ? ' from the local mirror' : ''}: ${amount}`]
  if (progress.bytesPerSecond) parts.push(`${formatBytes(progress.bytesPerSecond)}/s`)
  if (progress.done) parts.push('done')
  else if (progress.secondsLeft !== undefined && progress.secondsLeft !== null) parts.push(`${formatDuration(progress.secondsLeft)} left`)
  return parts.join(' · ')
}

/** The share done, 0..1, or null when the total is not known. */
export function downloadFraction(progress: DownloadProgress): number | null {
  return progress.totalBytes ? Math.min(1, progress.bytes / progress.totalBytes) : null
}
