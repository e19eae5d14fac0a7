// A tfjs LayersModel's topology in the form Keras 2's HDF5 loader (and Keras 3's legacy one)
// reads: tfjs-layers already writes Keras 2 configs; what differs is spelled the Keras way here.

export class KerasExportError extends Error {
  override name = 'ModelFileError'
}

type Json = Record<string, unknown>
interface LayerEntry {
  class_name: string
  config: Json
  name?: string
  inbound_nodes?: unknown
}

// Activation names both Keras 2 (tf.keras 2.x) and Keras 3 know.
const KERAS_ACTIVATIONS = new Set(['elu', 'gelu', 'hard_sigmoid', 'linear', 'relu', 'selu', 'sigmoid', 'softmax', 'softplus', 'softsign', 'swish', 'tanh'])
const TFJS_SPELLING: Record<string, string> = { hardSigmoid: 'hard_sigmoid' }

function fixInitializers(config: Json): void {
  for (const [key, value] of Object.entries(config)) {
    if (!key.endsWith('_initializer') || typeof value !== 'object' || value === null) continue
    const init = value as { class_name: string; config: Json }
    // tfjs says "normal" where Keras 2 means (and Keras 3 only accepts) "truncated_normal".
    if (init.class_name === 'VarianceScaling' && init.config.distribution === 'normal') init.config.distribution = 'truncated_normal'
  }
}

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential'])

function kerasLayer(entry: LayerEntry): LayerEntry {
  // A model used as a layer (a backbone inside a Sequential): its own layers are respelled too.
  if (MODEL_CLASSES.has(entry.class_name)) return { ...entry, ...kerasTopology(entry) }
  const config: Json = { ...entry.config }
  const name = String(config.name)
  if (!('dtype' in config)) config.dtype = 'float32'
  fixInitializers(config)
  if (typeof config.activation === 'string') {
    const activation = TFJS_SPELLING[config.activation] ?? config.activation
    if (entry.class_name === 'Activation' && activation === 'relu6') {
      // Keras 2 has no "relu6" activation; its MobileNets use ReLU(6.) for the same function.
      return {
        ...entry,
        class_name: 'ReLU',
        config: { name, trainable: config.trainable, dtype: config.dtype, max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }
      }
    }
    if (!KERAS_ACTIVATIONS.has(activation)) {
      throw new KerasExportError(`layer "${name}" (${entry.class_name}) uses the activation "${config.activation}", which Keras 2 does not have`)
    }
    config.activation = activation
  }
  return { ...entry, config }
}

/** `topology`: what tfjs' model.toJSON(null, false) returns. */
export function kerasTopology(topology: unknown): { class_name: string; config: Json } {
  const top = topology as { class_name: string; config: { name: string; layers: LayerEntry[] } & Json }
  if (!MODEL_CLASSES.has(top.class_name)) {
    throw new KerasExportError(`a ${top.class_name} cannot be written as a Keras model`)
  }
  return {
    // Keras 2.4 and later (3.x too) name a functional model "Functional".
    class_name: top.class_name === 'Sequential' ? 'Sequential' : 'Functional',
    config: { ...top.config, layers: top.config.layers.map(kerasLayer) }
  }
}
