// Config respelling without weights: Keras 3 functional wiring, and what is refused.
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { normalizeTopology } from '../../../src/engine/keras/import-config'

const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null }
const tensor = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [layer, 0, 0] } })
const layer = (class_name: string, name: string, config: object, args: unknown[] | null) => ({
  module: 'keras.layers',
  class_name,
  config: { name, trainable: true, dtype: policy, ...config },
  registered_name: null,
  name,
  inbound_nodes: args ? [{ args, kwargs: { mask: null } }] : []
})

// Keras 3's serialization of: x = Input((4,)); a = Dense(4)(x); b = Dense(4)(x); y = Dense(2, softmax)(Add()([a, b]))
const keras3Functional = {
  module: 'keras.src.models.functional',
  class_name: 'Functional',
  config: {
    name: 'functional',
    trainable: true,
    layers: [
      {
        module: 'keras.layers',
        class_name: 'InputLayer',
        config: { batch_shape: [null, 4], dtype: 'float32', sparse: false, name: 'input_layer' },
        registered_name: null,
        name: 'input_layer',
        inbound_nodes: []
      },
      layer('Dense', 'a', { units: 4, activation: 'relu', use_bias: true }, [tensor('input_layer')]),
      layer('Dense', 'b', { units: 4, activation: 'linear', use_bias: true }, [tensor('input_layer')]),
      layer('Add', 'add', {}, [[tensor('a'), tensor('b')]]),
      layer('Dense', 'out', { units: 2, activation: 'softmax', use_bias: true }, [tensor('add')])
    ],
    input_layers: ['input_layer', 0, 0],
    output_layers: ['out', 0, 0]
  },
  registered_name: 'Functional',
  build_config: { input_shape: null }
}

describe('normalizeTopology', () => {
  it('rewires a Keras 3 functional config the way tfjs reads Keras 2 ones', async () => {
    const topology = normalizeTopology(structuredClone(keras3Functional), 'model.keras')
    expect(topology.config.layers[3].inbound_nodes).toEqual([
      [
        ['a', 0, 0, {}],
        ['b', 0, 0, {}]
      ]
    ])
    expect(topology.config.layers[0].config.batch_input_shape).toEqual([null, 4])
    const model = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON)
    expect(model.layers.map((l) => l.name)).toEqual(['input_layer', 'a', 'b', 'add', 'out'])
    expect(model.countParams()).toBe(20 + 20 + 10)
    const add = model.getLayer('add') as unknown as { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] }
    expect(add.inboundNodes[0].inboundLayers.map((l) => l.name)).toEqual(['a', 'b'])
    model.dispose()
  })

  it('refuses a subclassed model, a grouped convolution and float16, naming what and where', () => {
    expect(() => normalizeTopology({ class_name: 'MyModel', config: {} }, 'm.h5')).toThrow(
      'm.h5: the model is a MyModel; only Sequential and functional models can be imported'
    )
    const grouped = structuredClone(keras3Functional)
    grouped.config.layers[1] = layer('Conv2D', 'conv', { filters: 4, kernel_size: [3, 3], groups: 2 }, [tensor('input_layer')])
    expect(() => normalizeTopology(grouped, 'm.keras')).toThrow(
      'm.keras: layer "conv" (Conv2D) is a grouped convolution (groups=2), which TensorFlow.js cannot run'
    )
    const half = structuredClone(keras3Functional)
    half.config.layers[2].config.dtype = { ...policy, config: { name: 'float16' } }
    expect(() => normalizeTopology(half, 'm.keras')).toThrow('m.keras: layer "b" (Dense) computes in float16; only float32 models can be imported')
  })
})
