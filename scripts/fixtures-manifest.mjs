// @ts-check
// Writes test/fixtures/manifest.json: every file under ../shared/data and ../shared/models that the
// tests and benchmarks read, with its public source (a raw URL pinned to a repository commit, official
// storage, or a recipe from such a file), size, SHA-256 and licence.
//
//   node scripts/fixtures-manifest.mjs [--shared DIR] [--mirrors DIR]
//
// --mirrors names a folder of git clones of the source repositories, one per repository, named
// owner+name (a bare repository, or one holding repo/ or .git/). A file is matched to its source by
// its git blob id, so the URL is exact; its commit is the clone's HEAD. A file whose bytes have not
// changed keeps the source the previous manifest gave it, so regenerating needs clones only for new files.
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { RECIPES } from './fixtures/derive.mjs'
import { MANIFEST, ROOT, SIBLING_SHARED } from './fixtures/root.mjs'

/** Source repositories, in order of preference when a file is in several; licences from the READMEs beside the files. */
const REPOSITORIES = {
  'zhangtao7750/syn': {
    what: 'hymenoptera (ants vs bees): the PyTorch transfer-learning tutorial set, an ImageNet subset',
    licence: 'ImageNet images (non-commercial research use); the repository has no licence file'
  },
  'theevann/dl4sci-pytorch-webinar': {
    what: 'alien-vs-predator: the Kaggle "alien vs predator" thumbnails',
    licence: 'Kaggle dataset images; the repository has no licence file'
  },
  'Potassium-chromate/CNN-for-recognizer-weather': {
    what: 'Multi-class Weather Dataset (Ajayi 2018, Mendeley Data)',
    licence: 'CC BY 4.0 (the dataset); the repository has no licence file'
  },
  'zhi-fangZhang/idpl_gen': {
    what: 'CIFAR-10 python batches, cut at 3 MiB in this repository (Krizhevsky 2009)',
    licence: 'CIFAR-10 terms (cite Krizhevsky 2009); the repository has no licence file'
  },
  'scikit-image/scikit-image': { what: 'scikit-image sample photos', licence: 'CC0 / public domain (scikit-image sample data)' },
  'mit-cml/appinventor-extensions': { what: 'Keras MobileNet v1 0.25 as TensorFlow.js layers', licence: 'Apache-2.0' },
  'tangmingsh/ml5featureExtractormodel': {
    what: 'Keras MobileNet v1 0.75 as TensorFlow.js layers (weights by Google)',
    licence: 'Apache-2.0 (Google tfjs-models weights); the repository has no licence file'
  },
  'mlcommons/tiny': { what: 'MLPerf Tiny reference models', licence: 'Apache-2.0' },
  'ikukang/DeepLearningWithPythonKeras': { what: 'Deep Learning with Python MNIST convnet', licence: 'no licence file' },
  'NIKHILnitr/Cifar10_CNN': { what: 'CIFAR-10 CNN', licence: 'no licence file' },
  'kiahvaidya/Handwritten-Digit-Recognition': {
    what: 'MNIST CNN saved by Keras 3',
    licence: 'no licence file (the README ends with the words "MIT License")'
  },
  'denisko28/cifar10_model_improved': { what: 'CIFAR-10 CNN, weights-only save', licence: 'no licence file' }
}

/** Official Keras application weights: where they sit under models/, and where Keras downloads them. */
const KERAS_APPLICATIONS = { prefix: 'models/keras-applications/', url: 'https://storage.googleapis.com/tensorflow/keras-applications/' }

/** Files no URL holds byte for byte: rebuilt by a recipe in scripts/fixtures/derive.mjs. */
const DERIVED = {
  'models/imagenet_classes.json': { recipe: 'imagenet-classes-from-npm', source: 'npm:@tensorflow-models/mobilenet' },
  'data/cifar10-bin-subset/batches.meta.txt': {
    recipe: 'cifar10-meta-to-text',
    repo: 'zhi-fangZhang/idpl_gen',
    input: 'data/cifar-10-batches-py/batches.meta'
  },
  ...Object.fromEntries(
    ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'].map((name) => [
      `data/cifar10-bin-subset/${name}.bin`,
      { recipe: 'cifar10-python-to-binary', repo: 'zhi-fangZhang/idpl_gen', input: `data/cifar-10-batches-py/${name}` }
    ])
  )
}

/** Odd inputs made from real photos by scripts/fixtures/generate.mjs instead of downloaded. */
const GENERATED = {
  'data/odd-files/weather_cloudy125_exif-orientation-8.jpg': { recipe: 'exif-orientation-8', from: 'data/mini/weather/train/cloudy/cloudy1.jpg' },
  'data/odd-files/weather_rain141_animated-gif-named-jpg.jpg': { recipe: 'animated-gif', from: 'data/mini/weather/train/rain/rain1.jpg' },
  'data/odd-files/git-lfs-pointer-named-jpg.jpg': { recipe: 'git-lfs-pointer', from: 'data/photos/rocket.jpg' },
  'data/odd-files/macos.DS_Store': { recipe: 'ds-store' }
}

const NPM_SOURCE = {
  'npm:@tensorflow-models/mobilenet': {
    what: 'ImageNet class names, from the installed npm package @tensorflow-models/mobilenet',
    licence: 'Apache-2.0'
  }
}

const { values: args } = parseArgs({ options: { shared: { type: 'string' }, mirrors: { type: 'string' } } })
const shared = path.resolve(args.shared ?? SIBLING_SHARED)

/** @param {Buffer} bytes */
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
/** @param {Buffer} bytes */
const gitBlobId = (bytes) => crypto.createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')
/** @param {string} repoPath */
const encodePath = (repoPath) => repoPath.split('/').map(encodeURIComponent).join('/')
/** @param {string} repo @param {string} commit @param {string} repoPath */
const rawUrl = (repo, commit, repoPath) => `https://raw.githubusercontent.com/${repo}/${commit}/${encodePath(repoPath)}`

/** @param {string} dir @returns {string[]} paths relative to `shared` */
function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return walk(full)
    // The READMEs beside the files document them; no test reads them.
    return entry.name === 'README.md' ? [] : [path.relative(shared, full).split(path.sep).join('/')]
  })
}

/**
 * Git clones of the source repositories: blob id → { repo, commit, path }, and repo → its clone.
 * @param {string | undefined} root
 */
function readMirrors(root) {
  /** @type {Map<string, { repo: string, commit: string, path: string }>} */
  const blobs = new Map()
  /** @type {Map<string, { gitDir: string, commit: string }>} */
  const clones = new Map()
  if (!root) return { blobs, clones }
  for (const repo of Object.keys(REPOSITORIES)) {
    const dir = path.join(root, repo.replace('/', '+'))
    const gitDir = [path.join(dir, 'repo', '.git'), path.join(dir, 'repo'), path.join(dir, '.git'), dir].find((d) => fs.existsSync(path.join(d, 'HEAD')))
    if (!gitDir) continue
    const git = (/** @type {string[]} */ ...a) => execFileSync('git', ['--git-dir', gitDir, ...a], { encoding: 'utf8', maxBuffer: 1 << 28 })
    const commit = git('rev-parse', 'HEAD').trim()
    clones.set(repo, { gitDir, commit })
    for (const line of git('ls-tree', '-r', '-z', 'HEAD').split('\0')) {
      const [meta, repoPath] = line.split('\t')
      const blob = meta?.split(' ')[2]
      if (blob && repoPath && !blobs.has(blob)) blobs.set(blob, { repo, commit, path: repoPath })
    }
  }
  return { blobs, clones }
}

/** @returns {Map<string, any>} */
function previousEntries() {
  if (!fs.existsSync(MANIFEST)) return new Map()
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'))
  return new Map(manifest.files.map((/** @type {any} */ f) => [f.path, f]))
}

const { blobs, clones } = readMirrors(args.mirrors)
const previous = previousEntries()
/** @type {Record<string, { repository: string, commit?: string, pinned: boolean, what: string, licence: string }>} */
const sources = {}
/** @param {string} repo @param {string} commit */
function useRepository(repo, commit) {
  const known = /** @type {Record<string, { what: string, licence: string }>} */ (REPOSITORIES)[repo]
  if (!known) throw new Error(`${repo}: not in REPOSITORIES of scripts/fixtures-manifest.mjs (add its licence there)`)
  if (sources[repo] && sources[repo].commit !== commit) throw new Error(`${repo}: files from two commits (${sources[repo].commit}, ${commit})`)
  sources[repo] = { repository: `https://github.com/${repo}`, commit, pinned: true, ...known }
}

/** @param {string} rel */
function entryFor(rel) {
  const bytes = fs.readFileSync(path.join(shared, rel))
  const base = { path: rel, size: bytes.length, sha256: sha256(bytes) }
  const generated = /** @type {Record<string, { recipe: string, from?: string }>} */ (GENERATED)[rel]
  if (generated) return { path: rel, generate: generated }

  const derived = /** @type {Record<string, { recipe: string, source?: string, repo?: string, input?: string }>} */ (DERIVED)[rel]
  if (derived) {
    const old = previous.get(rel)
    if (old?.sha256 === base.sha256 && old.derive) {
      if (old.derive.input) useRepository(old.source, old.derive.input.commit)
      else
        sources[old.source] = {
          repository: 'https://www.npmjs.com/package/@tensorflow-models/mobilenet',
          pinned: false,
          ...NPM_SOURCE[/** @type {'npm:@tensorflow-models/mobilenet'} */ (old.source)]
        }
      return { ...base, source: old.source, derive: old.derive }
    }
    if (derived.source) {
      sources[derived.source] = {
        repository: 'https://www.npmjs.com/package/@tensorflow-models/mobilenet',
        pinned: false,
        ...NPM_SOURCE[/** @type {'npm:@tensorflow-models/mobilenet'} */ (derived.source)]
      }
      checkRecipe(rel, derived.recipe, undefined, base.sha256)
      return { ...base, source: derived.source, derive: { recipe: derived.recipe } }
    }
    const clone = clones.get(/** @type {string} */ (derived.repo))
    if (!clone) throw new Error(`${rel}: derived from ${derived.repo}, which has no clone in --mirrors`)
    const input = execFileSync('git', ['--git-dir', clone.gitDir, 'show', `HEAD:${derived.input}`], { maxBuffer: 1 << 28 })
    checkRecipe(rel, derived.recipe, input, base.sha256)
    useRepository(/** @type {string} */ (derived.repo), clone.commit)
    const url = rawUrl(/** @type {string} */ (derived.repo), clone.commit, /** @type {string} */ (derived.input))
    return {
      ...base,
      source: derived.repo,
      derive: { recipe: derived.recipe, input: { url, commit: clone.commit, size: input.length, sha256: sha256(input) } }
    }
  }

  if (rel.startsWith(KERAS_APPLICATIONS.prefix)) {
    sources['keras-applications'] ??= {
      repository: KERAS_APPLICATIONS.url,
      pinned: false,
      what: 'official Keras application weights (the files keras.applications downloads)',
      licence: 'per model: DenseNet BSD-3-Clause, VGG16 CC BY 4.0, MobileNetV2 Apache-2.0, ResNet50 MIT'
    }
    return { ...base, source: 'keras-applications', url: KERAS_APPLICATIONS.url + encodePath(rel.slice(KERAS_APPLICATIONS.prefix.length)) }
  }

  const found = blobs.get(gitBlobId(bytes))
  if (found) {
    useRepository(found.repo, found.commit)
    return { ...base, source: found.repo, url: rawUrl(found.repo, found.commit, found.path) }
  }
  const old = previous.get(rel)
  if (old?.sha256 === base.sha256 && old.url) {
    useRepository(old.source, /** @type {string} */ (new URL(old.url).pathname.split('/')[3]))
    return { ...base, source: old.source, url: old.url }
  }
  throw new Error(`${rel}: no public source found (give --mirrors with a clone of the repository it came from, or add a recipe)`)
}

/** @param {string} rel @param {string} recipe @param {Buffer | undefined} input @param {string} expected */
function checkRecipe(rel, recipe, input, expected) {
  const output = /** @type {Record<string, (b?: Buffer) => Buffer>} */ (RECIPES)[recipe](input)
  if (sha256(output) !== expected) throw new Error(`${rel}: recipe ${recipe} gives SHA-256 ${sha256(output)}, not the file's ${expected}`)
}

const files = [...walk(path.join(shared, 'data')), ...walk(path.join(shared, 'models'))].sort().map(entryFor)
/** Each address once: a derived file's input can be a fixture of its own (the CIFAR-10 test batch is). */
const downloads = new Map(
  files.flatMap((/** @type {any} */ f) => (f.url ? [[f.url, f.size]] : f.derive?.input ? [[f.derive.input.url, f.derive.input.size]] : []))
)
const manifest = {
  about:
    'Test and benchmark fixtures: the files of ../shared/data and ../shared/models, laid out the same way. ' +
    '`npm run fixtures` uses ../shared (or $TRANSFER_STUDIO_FIXTURES) when present; otherwise it fetches each file with a url, ' +
    'rebuilds each file with derive (from derive.input, downloaded, or from an npm package), and makes each file with generate ' +
    'from a real photo. Every url is pinned to a commit when its source says pinned: true. Regenerate with scripts/fixtures-manifest.mjs.',
  totalFiles: files.length,
  downloadFiles: downloads.size,
  downloadBytes: [...downloads.values()].reduce((sum, size) => sum + size, 0),
  sources,
  files
}
const body = JSON.stringify({ ...manifest, files: '@FILES@' }, null, 2).replace(
  '"@FILES@"',
  `[\n${files.map((f) => `    ${JSON.stringify(f)}`).join(',\n')}\n  ]`
)
fs.mkdirSync(path.dirname(MANIFEST), { recursive: true })
fs.writeFileSync(MANIFEST, `${body}\n`)
console.log(
  `${path.relative(ROOT, MANIFEST)}: ${files.length} files, ${manifest.downloadFiles} to download (${(manifest.downloadBytes / 1e6).toFixed(1)} MB), ` +
    `${files.filter((f) => 'derive' in f).length} derived, ${files.filter((f) => 'generate' in f).length} generated`
)
