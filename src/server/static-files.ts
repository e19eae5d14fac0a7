// The built renderer, served by sirv: it indexes the folder once at start and answers only paths
// it found there, so traversal and bad percent-encodings cannot reach anything else. Two gaps in
// it are closed here because each would end the process: a Range whose start lies after its end
// (fs.createReadStream throws), and a file that vanished since start (a rebuild while serving),
// whose read stream errors with no listener.
import type http from 'node:http'
import type { Readable } from 'node:stream'
import sirv from 'sirv'

// One range with a start; sirv reads suffix and multi-range forms wrongly, and a server may ignore
// a Range it does not honour and send the whole file (RFC 9110 §14.2).
const SIMPLE_RANGE = /^bytes=(\d{1,15})-(\d{0,15})$/

export function staticFiles(root: string): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const serve = sirv(root, { dev: false, etag: true })
  return (req, res) => {
    const range = req.headers.range
    if (range !== undefined) {
      const match = SIMPLE_RANGE.exec(range)
      if (!match || (match[2] !== '' && Number(match[2]) < Number(match[1]))) delete req.headers.range
    }
    res.once('pipe', (source: Readable) => source.once('error', () => res.destroy()))
    serve(req, res)
  }
}
