"""Independent checks of Keras HDF5 files with h5py and NumPy (no tfjs, no h5wasm).

  layout <file>            the file's structure as Keras' loader sees it, as JSON: attribute
                           names and kinds, layer_names, each layer's weight_names and datasets
  same-weights <a> <b>     whether every weight dataset of a equals b's (by layer and weight name)
  dense <file> <layer>     reads JSON {"x": [[...]]} on stdin, prints the layer's output
                           activation(x @ kernel + bias) computed with NumPy
  conv <file> <layer>      reads JSON {"x": [H][W][C]} on stdin (one image), prints the 'same'- or
                           'valid'-padded, stride-1 Conv2D output (before activation), NumPy loops
"""
import json
import sys

import h5py
import numpy as np


def kind(value, attrs, name):
    h5type = attrs.get_id(name).get_type()
    if isinstance(h5type, h5py.h5t.TypeStringID):
        return 'vlen-string' if h5type.is_variable_str() else 'fixed-string'
    return f'{h5type.__class__.__name__}:{np.asarray(value).dtype}:{list(np.asarray(value).shape)}'


def text(value):
    return value.decode('utf8') if isinstance(value, bytes) else str(value)


def names(value):
    return [text(v) for v in np.asarray(value).reshape(-1)] if np.asarray(value).size else []


def layout(path):
    with h5py.File(path, 'r') as f:
        weights = f['model_weights'] if 'model_weights' in f else f
        layers = {}
        for layer in names(weights.attrs['layer_names']):
            group = weights[layer]
            weight_names = names(group.attrs['weight_names'])
            layers[layer] = {
                'weight_names_kind': kind(group.attrs['weight_names'], group.attrs, 'weight_names'),
                'weights': [[n, list(group[n].shape), str(group[n].dtype)] for n in weight_names],
            }
        config = json.loads(text(f.attrs['model_config'])) if 'model_config' in f.attrs else None
        return {
            'root_attrs': {k: kind(v, f.attrs, k) for k, v in f.attrs.items()},
            'model_weights_attrs': {k: kind(v, weights.attrs, k) for k, v in weights.attrs.items()},
            'keras_version': text(f.attrs['keras_version']),
            'backend': text(f.attrs['backend']),
            'layer_names': names(weights.attrs['layer_names']),
            'layers': layers,
            'config_class': config and config['class_name'],
            'config_layers': config and [[l['class_name'], l['config']['name'], l.get('inbound_nodes')] for l in config['config']['layers']],
        }


def weights_of(path):
    with h5py.File(path, 'r') as f:
        group = f['model_weights'] if 'model_weights' in f else f
        return {(layer, n): np.array(group[layer][n])
                for layer in names(group.attrs['layer_names'])
                for n in names(group[layer].attrs['weight_names'])}


def layer_weights(path, layer):
    with h5py.File(path, 'r') as f:
        group = f['model_weights'][layer]
        arrays = [np.array(group[n], dtype=np.float64) for n in names(group.attrs['weight_names'])]
        config = next(l['config'] for l in json.loads(text(f.attrs['model_config']))['config']['layers'] if l['config']['name'] == layer)
    return arrays, config


ACTIVATIONS = {
    'linear': lambda z: z,
    'relu': lambda z: np.maximum(z, 0),
    'softmax': lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def dense(path, layer, x):
    (kernel, bias), config = layer_weights(path, layer)
    return ACTIVATIONS[config['activation']](np.asarray(x, dtype=np.float64) @ kernel + bias)


def conv(path, layer, x):
    (kernel, bias), config = layer_weights(path, layer)
    assert config['strides'] == [1, 1] and config['dilation_rate'] == [1, 1], config
    x = np.asarray(x, dtype=np.float64)
    kh, kw, _, filters = kernel.shape
    if config['padding'] == 'same':
        top, left = (kh - 1) // 2, (kw - 1) // 2
        x = np.pad(x, ((top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    height, width = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((height, width, filters)) + bias
    for i in range(kh):
        for j in range(kw):
            out += np.tensordot(x[i:i + height, j:j + width, :], kernel[i, j], axes=([2], [0]))
    return out


def main():
    command, *args = sys.argv[1:]
    if command == 'layout':
        print(json.dumps(layout(args[0])))
    elif command == 'same-weights':
        a, b = weights_of(args[0]), weights_of(args[1])
        print(json.dumps({'keys_equal': sorted(map(list, a)) == sorted(map(list, b)),
                          'values_equal': all(k in b and a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a),
                          'count': len(a)}))
    elif command in ('dense', 'conv'):
        x = json.load(sys.stdin)['x']
        out = (dense if command == 'dense' else conv)(args[0], args[1], x)
        print(json.dumps({'y': out.tolist()}))
    else:
        raise SystemExit(f'unknown command {command}')


if __name__ == '__main__':
    main()
