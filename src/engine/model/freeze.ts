// Which layers train. Keras spells these `base_model.trainable = False`, `for layer in
// model.layers[:N]: layer.trainable = False`, or per layer; the layer tree sends explicit sets.
import type { FreezeSpec } from '../../shared/protocol'
import type { TransferModel } from './build'

export class FreezeError extends Error {
  override name = 'FreezeError'
}

export function applyFreeze(tm: TransferModel, spec: FreezeSpec): void {
  const byName = new Map(tm.graph.map((node) => [node.layer.name, node.layer]))
  const setTrainable = (names: Iterable<string>, trainable: boolean): void => {
    for (const name of names) byName.get(name)!.trainable = trainable
  }
  const unknown = (name: string): FreezeError =>
    new FreezeError(
      `No layer named "${name}" in ${tm.backbone.id}. Layers keep their Keras names, for example ` +
        `${tm.backboneLayers.at(-3)} or ${tm.backboneLayers.at(-1)}.`
    )

  setTrainable(byName.keys(), true)
  switch (spec.kind) {
    case 'none':
      return
    case 'all':
      return setTrainable(tm.backboneLayers, false)
    case 'upTo': {
      const index = tm.backboneLayers.indexOf(spec.layer)
      if (index < 0) throw unknown(spec.layer)
      return setTrainable(tm.backboneLayers.slice(0, index + 1), false)
    }
    case 'layers':
      for (const name of spec.frozen) if (!byName.has(name)) throw unknown(name)
      return setTrainable(spec.frozen, false)
  }
}

/** Layers with weights that do not train: what a saved model records as its freezing. */
export function frozenLayers(tm: TransferModel): string[] {
  return tm.graph.filter((n) => n.layer.weights.length > 0 && !n.layer.trainable).map((n) => n.layer.name)
}
