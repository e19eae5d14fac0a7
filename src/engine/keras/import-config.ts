// Turns a model config as Keras wrote it (Keras 2 `model_config`, `model.to_json()`, or a Keras 3
// config) into the Keras 2 form tfjs-layers deserializes, and refuses what tfjs cannot run with
// an error naming the layer and its class. Where Keras and tfjs disagree only in spelling
// (Keras 3's batch_shape and dtype policies, an L2 regularizer, a one-element BatchNormalization
// axis) the config is respelled; where the meaning would change, the import stops.

export class KerasImportError extends Error {
  override name = 'ModelFileError'
}

type Json = Record<string, unknown>
export interface LayerEntry {
  class_name: string
  config: Json
  name?: string
  inbound_nodes?: unknown[]
}
export interface Topology {
  class_name: 'Sequential' | 'Functional'
  config: { name: string; layers: LayerEntry[]; input_layers?: unknown; output_layers?: unknown }
}

// Layers tfjs-layers 4.22 runs as Keras does. Resizing is left out: tfjs 4.22 drops its batch
// dimension, so no model containing it can be built.
const SUPPORTED_LAYERS = new Set([
  'InputLayer',
  'Dense',
  'Activation',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Flatten',
  'Reshape',
  'Permute',
  'RepeatVector',
  'Masking',
  'Embedding',
  'Conv1D',
  'Conv2D',
  'Conv3D',
  'Conv2DTranspose',
  'Conv3DTranspose',
  'SeparableConv2D',
  'DepthwiseConv2D',
  'Cropping2D',
  'UpSampling2D',
  'ZeroPadding2D',
  'MaxPooling1D',
  'MaxPooling2D',
  'MaxPooling3D',
  'AveragePooling1D',
  'AveragePooling2D',
  'AveragePooling3D',
  'GlobalAveragePooling1D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling1D',
  'GlobalMaxPooling2D',
  'BatchNormalization',
  'LayerNormalization',
  'Add',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
  'Concatenate',
  'Dot',
  'ReLU',
  'LeakyReLU',
  'PReLU',
  'ELU',
  'ThresholdedReLU',
  'Softmax',
  'Rescaling',
  'CenterCrop',
  'SimpleRNN',
  'GRU',
  'LSTM',
  'Bidirectional',
  'TimeDistributed'
])
const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model'])

/** Keras 3 wraps every object as {module, class_name, config, registered_name}; Keras 2 as {class_name, config}. */
function unwrapKeras3(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapKeras3)
  if (typeof value !== 'object' || value === null) return value
  const object = value as Json
  if (object.class_name === 'DTypePolicy' || object.class_name === 'FloatDTypePolicy') {
    return (object.config as Json | undefined)?.name ?? 'float32'
  }
  const out: Json = {}
  for (const [key, inner] of Object.entries(object)) {
    if (key === 'module' || key === 'registered_name' || key === 'build_config' || key === 'compile_config') continue
    out[key] = unwrapKeras3(inner)
  }
  return out
}

/** Keras 3 inbound nodes ({args: [KerasTensor…], kwargs}) in Keras 2's [[layer, node, tensor, kwargs], …] form. */
function keras2InboundNodes(nodes: unknown[]): unknown[] {
  return nodes.map((node) => {
    if (Array.isArray(node)) return node
    const { args, kwargs } = node as { args?: unknown[]; kwargs?: Json }
    // Keras 3 writes unset call arguments (mask=None) that tfjs would pass on.
    const callKwargs = Object.fromEntries(Object.entries(kwargs ?? {}).filter(([, value]) => value !== null))
    const inbound: unknown[] = []
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect)
      else if (typeof value === 'object' && value !== null) {
        const object = value as Json
        const history = (object.config as Json | undefined)?.keras_history
        if (object.class_name === '__keras_tensor__' && Array.isArray(history)) inbound.push([...history, callKwargs])
      }
    }
    collect(args ?? [])
    return inbound
  })
}

/** [[name, node, tensor], …] whether Keras wrote one such triple or a list of them. */
function tensorList(value: unknown): unknown {
  return Array.isArray(value) && typeof value[0] === 'string' ? [value] : value
}

const regularizerFixes: Record<string, (config: Json) => Json> = {
  L1L2: (c) => ({ l1: c.l1 ?? 0, l2: c.l2 ?? 0 }),
  L2: (c) => ({ l1: 0, l2: c.l2 ?? 0.01 }),
  L1: (c) => ({ l1: c.l1 ?? 0.01, l2: 0 })
}

function fixLayerConfig(entry: LayerEntry, file: string): void {
  const { config } = entry
  const where = `layer "${config.name ?? entry.name}" (${entry.class_name})`
  const refuse = (reason: string): never => {
    throw new KerasImportError(`${file}: ${where} ${reason}`)
  }
  if ('batch_shape' in config) {
    config.batch_input_shape = config.batch_shape
    delete config.batch_shape
  }
  if (typeof config.dtype === 'string' && config.dtype !== 'float32') refuse(`computes in ${config.dtype}; only float32 models can be imported`)
  for (const [key, value] of Object.entries(config)) {
    if (!key.endsWith('_regularizer') || value === null || value === undefined) continue
    const { class_name: kind, config: inner } = value as { class_name: string; config: Json }
    const fix = regularizerFixes[kind]
    if (!fix) refuse(`has a ${kind} ${key}, which cannot be imported`)
    config[key] = { class_name: 'L1L2', config: fix(inner ?? {}) }
  }
  if ('groups' in config) {
    if (config.groups !== 1) refuse(`is a grouped convolution (groups=${String(config.groups)}), which TensorFlow.js cannot run`)
    delete config.groups
  }
  if ('keepdims' in config) {
    if (config.keepdims) refuse('keeps the pooled dimensions (keepdims=True), which TensorFlow.js cannot do')
    delete config.keepdims
  }
  if (entry.class_name === 'BatchNormalization' && Array.isArray(config.axis)) {
    if (config.axis.length !== 1) refuse(`normalises over several axes (${JSON.stringify(config.axis)}), which TensorFlow.js cannot do`)
    config.axis = config.axis[0]
  }
}

/**
 * `raw`: the parsed `model_config`, `to_json()` output or Keras 3 `config.json`. Returns a Keras 2
 * topology tfjs deserializes. `file` names the source in errors.
 */
export function normalizeTopology(raw: unknown, file: string): Topology {
  const top = unwrapKeras3(raw) as { class_name?: string; config?: unknown }
  if (!top || typeof top !== 'object' || typeof top.class_name !== 'string') {
    throw new KerasImportError(`${file}: the model config has no class_name: it is not a Keras model config`)
  }
  if (!MODEL_CLASSES.has(top.class_name)) {
    throw new KerasImportError(
      `${file}: the model is a ${top.class_name}; only Sequential and functional models can be imported (subclassed models keep no config)`
    )
  }
  const sequential = top.class_name === 'Sequential'
  // Keras before 2.2.3 wrote a Sequential's config as the bare list of its layers.
  const config = (Array.isArray(top.config) ? { name: 'sequential', layers: top.config } : top.config) as Topology['config']
  if (!config || !Array.isArray(config.layers)) throw new KerasImportError(`${file}: the model config lists no layers`)
  config.layers.forEach((entry, index) => {
    if (!entry || typeof entry.class_name !== 'string' || typeof entry.config !== 'object') {
      throw new KerasImportError(`${file}: layer ${index} of the model config is malformed`)
    }
    if (MODEL_CLASSES.has(entry.class_name)) {
      entry.config = normalizeTopology(entry, file).config as unknown as Json
    } else if (!SUPPORTED_LAYERS.has(entry.class_name)) {
      throw new KerasImportError(
        `${file}: layer "${entry.config.name ?? entry.name}" is a ${entry.class_name}, which Transfer Studio cannot import (TensorFlow.js has no such layer)`
      )
    } else {
      fixLayerConfig(entry, file)
    }
    // Only an input layer's shape counts; Keras ignores the copies other layers carry (some
    // scripts pass input_shape to every layer), tfjs would enforce them.
    const keepsShape = entry.class_name === 'InputLayer' || (sequential && index === 0)
    if (!keepsShape) delete entry.config.batch_input_shape
    if (Array.isArray(entry.inbound_nodes)) entry.inbound_nodes = keras2InboundNodes(entry.inbound_nodes)
  })
  if (!sequential) {
    config.input_layers = tensorList(config.input_layers)
    config.output_layers = tensorList(config.output_layers)
  }
  return { class_name: sequential ? 'Sequential' : 'Functional', config }
}
