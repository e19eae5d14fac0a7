"""Independent forward pass for the Keras backbones: torchvision's own DenseNet, VGG16 and
MobileNetV2, given the tensors of a Keras .h5 weights file by Keras layer and weight *name*
(not by file order, as the loader under test does), and run on one image preprocessed here
with numpy as Keras' preprocess_input does. Where Keras differs from torchvision the model is
adjusted: BatchNormalization epsilon (DenseNet 1.001e-5, MobileNetV2 1e-3) and MobileNetV2's
uneven stride-2 padding (nothing before, one pixel after, not one on each side).

usage: torchvision_reference.py <densenet121|densenet201|vgg16|mobilenet_v2> <weights.h5>
       <pixels: 224*224*3 uint8 RGB> <out: float32> [--top]
Writes the features channels-last (include_top=False) or the 1000 softmax outputs (--top).
"""
import sys

import h5py
import numpy as np
import torch
import torchvision
from torch import nn


def keras_tensors(path):
    """{layer: {kind: array}}, kind being kernel, bias, gamma, beta, moving_mean, moving_variance
    or depthwise_kernel; Keras 1 names (block1_conv1_W_1:0) are read as kernel and bias."""
    out = {}
    with h5py.File(path, 'r') as f:
        root = f if 'layer_names' in f.attrs else f['model_weights']
        for layer in [n.decode('utf8') for n in root.attrs['layer_names']]:
            names = [n.decode('utf8') for n in root[layer].attrs['weight_names']]
            if not names:
                continue
            kinds = {}
            for name in names:
                short = name.split('/')[-1].split(':')[0]
                if short.startswith(layer + '_'):
                    short = {'W': 'kernel', 'b': 'bias'}[short[len(layer) + 1:].split('_')[0]]
                kinds[short] = np.array(root[layer][name], dtype=np.float32)
            out[layer] = kinds
    return out


def put(param, value):
    value = torch.from_numpy(np.ascontiguousarray(value))
    assert param.shape == value.shape, (tuple(param.shape), tuple(value.shape))
    with torch.no_grad():
        param.copy_(value)


def conv(module, w):
    put(module.weight, w['kernel'].transpose(3, 2, 0, 1))
    if module.bias is not None:
        put(module.bias, w['bias'])


def depthwise(module, w):
    put(module.weight, w['depthwise_kernel'].transpose(2, 3, 0, 1))


def bn(module, w, eps):
    put(module.weight, w['gamma'])
    put(module.bias, w['beta'])
    put(module.running_mean, w['moving_mean'])
    put(module.running_var, w['moving_variance'])
    module.eps = eps


def dense(module, w):
    put(module.weight, w['kernel'].T)
    put(module.bias, w['bias'])


def densenet(name, t):
    model = getattr(torchvision.models, name)(weights=None).eval()
    f = model.features
    eps = 1.001e-5
    conv(f.conv0, t['conv1/conv'])
    bn(f.norm0, t['conv1/bn'], eps)
    for b in range(1, 5):
        block = getattr(f, 'denseblock%d' % b)
        for i, layer in enumerate(block.values(), start=1):
            k = 'conv%d_block%d' % (b + 1, i)
            bn(layer.norm1, t[k + '_0_bn'], eps)
            conv(layer.conv1, t[k + '_1_conv'])
            bn(layer.norm2, t[k + '_1_bn'], eps)
            conv(layer.conv2, t[k + '_2_conv'])
        if b < 4:
            tr = getattr(f, 'transition%d' % b)
            bn(tr.norm, t['pool%d_bn' % (b + 1)], eps)
            conv(tr.conv, t['pool%d_conv' % (b + 1)])
    bn(f.norm5, t['bn'], eps)
    if 'fc1000' in t:
        dense(model.classifier, t['fc1000'])

    def features(x):
        # torchvision applies the last ReLU in forward(); Keras has it as the layer "relu".
        return torch.relu(f(x))

    def top(x):
        return torch.softmax(model.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(features(x), 1), 1)), 1)

    return features, top


def vgg16(t):
    model = torchvision.models.vgg16(weights=None).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    names = ['block%d_conv%d' % (b, c) for b, n in enumerate([2, 2, 3, 3, 3], start=1) for c in range(1, n + 1)]
    for m, n in zip(convs, names):
        conv(m, t[n])
    if 'fc1' in t:
        # Keras flattens channels-last (h, w, c); torchvision channels-first (c, h, w).
        k = t['fc1']['kernel'].reshape(7, 7, 512, 4096).transpose(3, 2, 0, 1).reshape(4096, -1)
        put(model.classifier[0].weight, k)
        put(model.classifier[0].bias, t['fc1']['bias'])
        dense(model.classifier[3], t['fc2'])
        dense(model.classifier[6], t['predictions'])

    def top(x):
        return torch.softmax(model.classifier(torch.flatten(model.avgpool(model.features(x)), 1)), 1)

    return model.features, top


class KerasPad(nn.Module):
    """A stride-2 convolution as Keras' correct_pad + 'valid' does it on even sizes."""

    def __init__(self, conv_module):
        super().__init__()
        conv_module.padding = (0, 0)
        self.conv = conv_module

    def forward(self, x):
        return self.conv(nn.functional.pad(x, (0, 1, 0, 1)))


def mobilenet_v2(t):
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    f = model.features
    eps = 1e-3
    conv(f[0][0], t['Conv1'])
    bn(f[0][1], t['bn_Conv1'], eps)
    for i in range(1, 18):
        block = f[i].conv
        p = 'expanded_conv_' if i == 1 else 'block_%d_' % (i - 1)
        if i > 1:
            conv(block[0][0], t[p + 'expand'])
            bn(block[0][1], t[p + 'expand_BN'], eps)
            block = block[1:]
        depthwise(block[0][0], t[p + 'depthwise'])
        bn(block[0][1], t[p + 'depthwise_BN'], eps)
        conv(block[1], t[p + 'project'])
        bn(block[2], t[p + 'project_BN'], eps)
        if block[0][0].stride == (2, 2):
            block[0][0] = KerasPad(block[0][0])
    f[0][0] = KerasPad(f[0][0])
    conv(f[18][0], t['Conv_1'])
    bn(f[18][1], t['Conv_1_bn'], eps)
    if 'Logits' in t:
        dense(model.classifier[1], t['Logits'])

    def top(x):
        return torch.softmax(model.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(f(x), 1), 1)), 1)

    return f, top


def preprocess(pixels, mode):
    x = pixels.astype(np.float32)
    if mode == 'tf':
        return x / 127.5 - 1.0
    if mode == 'torch':
        return (x / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)


def main():
    arch, weights, pixels_file, out_file = sys.argv[1:5]
    top = '--top' in sys.argv[5:]
    torch.set_num_threads(1)
    t = keras_tensors(weights)
    if arch.startswith('densenet'):
        features, classify = densenet(arch, t)
        mode = 'torch'
    elif arch == 'vgg16':
        features, classify = vgg16(t)
        mode = 'caffe'
    else:
        features, classify = mobilenet_v2(t)
        mode = 'tf'
    pixels = np.fromfile(pixels_file, dtype=np.uint8).reshape(1, 224, 224, 3)
    x = torch.from_numpy(np.ascontiguousarray(preprocess(pixels, mode).transpose(0, 3, 1, 2)))
    with torch.no_grad():
        y = classify(x) if top else features(x).permute(0, 2, 3, 1)
    y.numpy().astype(np.float32).tofile(out_file)


if __name__ == '__main__':
    main()
