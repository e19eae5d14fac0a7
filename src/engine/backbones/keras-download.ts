// Downloads one official Keras .h5 weights file through the shared file download (progress,
// resume, size and MD5 — the hashes Keras itself checks — before anything reads it).
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { downloadFile } from '../downloads/download-file'
import { environment } from '../environment'
import { studioHome } from '../home'
import { KERAS_WEIGHTS_BASE, type BackboneSpec, type KerasWeightsFile } from './registry'
import type { WeightsOptions } from './weights'

/** The file's URL: the official one, or the same relative path under a weights mirror (URL or folder). */
export function kerasFileUrl(file: KerasWeightsFile, mirror = environment.weightsMirror()): string {
  return mirroredUrl(KERAS_WEIGHTS_BASE, file.path, mirror)
}

/** `base + relative`, or the same relative path under a mirror (a URL or a folder). */
export function mirroredUrl(base: string, relative: string, mirror: string | undefined): string {
  if (!mirror) return base + relative
  if (/^(https?|file):/i.test(mirror)) return new URL(relative, mirror.endsWith('/') ? mirror : `${mirror}/`).href
  return pathToFileURL(path.join(path.resolve(mirror), ...relative.split('/'))).href
}

export function downloadsDir(home = studioHome()): string {
  return path.join(home, 'weights', 'downloads')
}

/** The path of the checked .h5 file, downloading (or finishing a broken download of) it first. */
export async function downloadKerasFile(spec: BackboneSpec, file: KerasWeightsFile, options: WeightsOptions = {}): Promise<string> {
  return downloadFile(
    {
      url: kerasFileUrl(file, options.mirror),
      dest: path.join(downloadsDir(options.home), path.basename(file.path)),
      bytes: file.bytes,
      md5: file.md5,
      id: spec.id,
      label: `${spec.id} weights`,
      what: `the weights of ${spec.id}`,
      offlineHint: `Without internet access, put ${file.path} under a folder and set TRANSFER_STUDIO_WEIGHTS=<folder>.`
    },
    options
  )
}
