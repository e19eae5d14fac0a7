// Training that continues a saved model (one imported from Keras, or trained here before), as a
// Keras user does with `load_model(...)` then `fit(...)`: the same model, its own classifier and
// classes. Its layers up to the last one with weights play the backbone's part (frozen by `freeze`
// as a backbone is), and that last layer with whatever follows it (its softmax) is the head.
import * as tf from '@tensorflow/tfjs'
import type { ModelMetadata } from '../../shared/protocol'
import type { LoadedBackbone } from '../backbones/load'
import type { BackboneSpec } from '../backbones/registry'
import { applyKerasBatchNormSemantics } from '../model/batchnorm'
import type { TransferModel } from '../model/build'
import { graphOf } from '../model/graph'
import { loadModel } from '../model/store'

export class StartFromError extends Error {
  override name = 'StartFromError'
}

export interface StartingModel {
  tm: TransferModel
  /** What prepareModel hands on as the loaded backbone: here the same model (its release disposes nothing twice). */
  loaded: LoadedBackbone
  metadata: ModelMetadata
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Loads the saved model in `dir` to train it further on a dataset with `classes`. The classes
 * must be the model's own, in its output order: its classifier means nothing for any others.
 */
export async function loadStartingModel(dir: string, classes: readonly string[], nativeSize: number | null): Promise<StartingModel> {
  const { model, metadata } = await loadModel(dir)
  try {
    if (!sameList(metadata.labels, classes)) {
      throw new StartFromError(
        `${dir} classifies ${metadata.labels.join(', ')}, but the dataset's classes are ${classes.join(', ')}: ` +
          'continuing a model needs the same classes in the same order (start from a backbone with a new head for other classes)'
      )
    }
    if (nativeSize !== null && nativeSize !== metadata.inputSize) {
      throw new StartFromError(`${dir} takes ${metadata.inputSize}x${metadata.inputSize} images, but the dataset's images are ${nativeSize}x${nativeSize}`)
    }
    const graph = graphOf(model)
    const lastWeighted = graph.findLastIndex((node) => node.layer.weights.length > 0)
    if (lastWeighted < 1) throw new StartFromError(`${dir}: the model has no layer with weights to train`)
    const tensors = new Map(model.layers.map((layer) => [layer.name, layer.output as tf.SymbolicTensor]))
    applyKerasBatchNormSemantics(graph.map((node) => node.layer))
    const spec: BackboneSpec = {
      id: metadata.backbone,
      name: metadata.backbone,
      family: 'saved model',
      inputSize: metadata.inputSize,
      preprocess: metadata.preprocess,
      featureLayer: graph[lastWeighted - 1].layer.name,
      parameters: model.countParams(),
      downloadBytes: 0,
      licence: '',
      url: dir
    }
    const tm: TransferModel = {
      model,
      graph,
      tensors,
      backbone: spec,
      backboneLayers: graph.slice(1, lastWeighted).map((node) => node.layer.name),
      headLayers: graph.slice(lastWeighted).map((node) => node.layer.name),
      inputSize: metadata.inputSize,
      classes: metadata.labels,
      head: metadata.head
    }
    // A stand-in that owns nothing: disposing it must not release the weights the model trains.
    const loaded = { spec, model: { dispose: () => {} } as unknown as tf.LayersModel }
    return { tm, loaded, metadata }
  } catch (error) {
    model.dispose()
    throw error
  }
}
