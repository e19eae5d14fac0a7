"""PyTorch peer of bench/finetune.ts: fine-tunes the same Keras model (TensorFlow.js files, the same
weights) with the same layers trainable, on the same photos, with Adam (lr 1e-3, eps 1e-7 as Keras),
batch 32, a Glorot-initialised Dense softmax head on global average pooling, on N threads.
The frozen prefix runs once per image and its outputs are cached (as our trainer does); with no
prefix the decoded images are kept in memory (as ours keeps them between epochs).
BatchNorm of the trainable layers: eval mode (statistics frozen) or train mode (batch statistics,
running averages with PyTorch momentum 0.01 = Keras momentum 0.99).
Prints one JSON object: per-epoch seconds (training + validation), val accuracy, setup seconds, peak RSS.
"""
import argparse
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_peer import KerasGraph, activate, decode, load_split, load_tfjs, same_padding

CAFFE_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def load_images(items, size, preprocess):
    from PIL import Image

    out = []
    for path, _ in items:
        if preprocess == "tf":
            out.append(decode(path, size))
        else:  # caffe: BGR, ImageNet means subtracted, no scaling
            with Image.open(path) as image:
                x = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
            out.append(x[..., ::-1] - CAFFE_MEAN)
    return torch.from_numpy(np.stack(out))


def run_layers(net, layers, values, bn_train):
    """The Keras layers in order (NCHW), reading and writing `values` by layer name."""
    p = net.params
    out = None
    for kind, name, cfg, inbound in layers:
        args = [values[n] for n in inbound]
        x = args[0]
        if kind == "Conv2D":
            out = net.conv(x, name, cfg, False)
        elif kind == "DepthwiseConv2D":
            out = net.conv(x, name, cfg, True)
        elif kind == "BatchNormalization":
            training = bn_train and p[name + "/gamma"].requires_grad
            out = F.batch_norm(x, p[name + "/moving_mean"], p[name + "/moving_variance"], p.get(name + "/gamma"), p.get(name + "/beta"), training, 1 - cfg["momentum"], cfg["epsilon"])
        elif kind == "Activation":
            out = activate(x, cfg["activation"])
        elif kind == "ReLU":
            out = torch.clamp(x, 0, cfg["max_value"]) if cfg.get("max_value") else F.relu(x)
        elif kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            out = F.pad(x, (left, right, top, bottom))
        elif kind == "MaxPooling2D":
            k, s = cfg["pool_size"][0], cfg["strides"][0]
            if cfg["padding"] == "same":
                top, bottom = same_padding(x.shape[2], k, s)
                left, right = same_padding(x.shape[3], k, s)
                x = F.pad(x, (left, right, top, bottom), value=-math.inf)
            out = F.max_pool2d(x, k, s)
        elif kind == "Add":
            out = sum(args[1:], args[0])
        else:
            raise ValueError(f"layer {name}: {kind} is not supported by this peer")
        values[name] = out
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--feature", required=True, help="the backbone's last layer (include_top=False)")
    parser.add_argument("--cut", default="", help="last frozen layer ('' = everything trains)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preprocess", default="tf")
    parser.add_argument("--bn-train", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    layers, weights = load_tfjs(args.model)
    net = KerasGraph(layers, weights, args.feature)
    size = layers[0]["config"]["batch_input_shape"][1]
    body = net.layers[1:]
    names = [name for _, name, _, _ in body]
    cut = names.index(args.cut) + 1 if args.cut else 0
    prefix, suffix = body[:cut], body[cut:]
    trainable = []
    for _, name, _, _ in suffix:
        for key in list(net.params):
            if key.startswith(name + "/") and not key.endswith(("moving_mean", "moving_variance")):
                net.params[key] = net.params[key].clone().requires_grad_(True)
                trainable.append(net.params[key])
    classes = sorted(os.listdir(os.path.join(args.data, "train")))
    train_items = load_split(os.path.join(args.data, "train"), classes)
    val_items = load_split(os.path.join(args.data, "val"), classes)
    y_train = torch.tensor([l for _, l in train_items])
    y_val = torch.tensor([l for _, l in val_items])
    start_name = args.cut or net.input_name

    def features(items):
        images = load_images(items, size, args.preprocess)
        if not prefix:
            return images.permute(0, 3, 1, 2).contiguous()
        out = []
        with torch.inference_mode():
            for s in range(0, len(images), 32):
                values = {net.input_name: images[s : s + 32].permute(0, 3, 1, 2)}
                out.append(run_layers(net, prefix, values, False).clone())
        return torch.cat(out)

    x_train, x_val = features(train_items), features(val_items)
    width = run_layers(net, suffix, {start_name: x_train[:1]}, False).shape[1] if suffix else x_train.shape[1]
    head = torch.nn.Linear(width, len(classes))
    torch.nn.init.xavier_uniform_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optimizer = torch.optim.Adam(trainable + list(head.parameters()), lr=1e-3, eps=1e-7)

    def forward(x, bn_train):
        return head(run_layers(net, suffix, {start_name: x}, bn_train).mean(dim=(2, 3)))

    setup = time.perf_counter() - started
    epochs = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(y_train))
        for s in range(0, len(order), 32):
            index = order[s : s + 32]
            loss = F.cross_entropy(forward(x_train[index], args.bn_train), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        right = 0
        with torch.inference_mode():
            for s in range(0, len(y_val), 32):
                right += (forward(x_val[s : s + 32], False).argmax(-1) == y_val[s : s + 32]).sum().item()
        epochs.append({"seconds": time.perf_counter() - t0, "val_acc": right / len(y_val)})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"torch": torch.__version__, "setup_seconds": setup, "epochs": epochs, "peak_rss_mb": peak, "trainable_tensors": len(trainable)}))


if __name__ == "__main__":
    main()
