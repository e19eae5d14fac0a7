// Keras' preprocess_input as ONNX operations, for graphs that are fed RGB values 0..255: the frozen
// prefix's, and the training step's when nothing is frozen. The same operations in the same order
// as preprocess() (inference/preprocess.ts), so the numbers are tfjs's.
import type { PreprocessMode } from '../../shared/protocol'
import { CAFFE_BGR_MEAN, TORCH_MEAN, TORCH_STD } from '../inference/preprocess'

/** What the two graph builders (model/onnx-export.ts, finetune/onnx-graph.ts) both offer. */
export interface PreprocessEmitter {
  node(opType: string, input: string[], attributes?: Record<string, number | number[]>): string
  float(values: number[], dims: number[]): string
  int64(values: number[]): string
}

/** `x`: rank 4, its channels on `channelAxis` (1 channels-first, 3 channels-last). */
export function emitPreprocess(g: PreprocessEmitter, x: string, mode: PreprocessMode, channelAxis: 1 | 3): string {
  const scalar = (value: number) => g.float([value], [])
  const channels = (values: number[]) => g.float(values, channelAxis === 1 ? [1, 3, 1, 1] : [3])
  switch (mode) {
    case 'tf':
      return g.node('Sub', [g.node('Div', [x, scalar(127.5)]), scalar(1)])
    case 'caffe': {
      const bgr = g.node('Gather', [x, g.int64([2, 1, 0])], { axis: channelAxis })
      return g.node('Sub', [bgr, channels(CAFFE_BGR_MEAN)])
    }
    case 'torch': {
      const unit = g.node('Div', [x, scalar(255)])
      return g.node('Div', [g.node('Sub', [unit, channels(TORCH_MEAN)]), channels(TORCH_STD)])
    }
    case 'unit':
      return g.node('Div', [x, scalar(255)])
    case 'raw':
      return x
  }
}
