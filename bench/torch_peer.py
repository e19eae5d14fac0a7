"""PyTorch peer for the benchmarks: runs a Keras model stored as a TensorFlow.js layers model
(model.json + weight shards) in PyTorch, with the same architecture and the same weights read from
the same files, so the two frameworks are measured on exactly the same work.

Commands (JSON on stdout):
  extract  --model DIR --feature LAYER --batch-sizes 1,8,32 --threads N --seconds S [--pool]
  verify   --model DIR --feature LAYER --input x.f32 --shape N,H,W,C [--pool]   (prints the features)
  train    --model DIR --feature LAYER --data DIR --epochs N --threads N --mode per-epoch|cached [--seeds 1,2,...]
  heads    --features DIR --epochs N --batch-size B --lr X --threads N --seeds 1,2,...
           (the five-line PyTorch recipe on given pooled features: Linear head, PyTorch's default
           initialisation, Adam, cross-entropy; DIR holds {train,val}.f32, {train,val}.labels (int32), meta.json)
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_tfjs(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        spec = json.load(f)
    topology = spec["modelTopology"]
    config = topology.get("model_config", topology)["config"]
    weights = {}
    for group in spec["weightsManifest"]:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            weights[w["name"]] = np.frombuffer(data, dtype=np.float32, count=count, offset=offset).reshape(w["shape"])
            offset += count * 4
    return config["layers"], weights


def same_padding(size, kernel, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class KerasGraph(torch.nn.Module):
    """Executes the Keras layer graph up to `feature` (NCHW inside, NHWC at the edges)."""

    def __init__(self, layers, weights, feature):
        super().__init__()
        self.layers = []
        self.params = {}
        for layer in layers:
            name = layer["config"]["name"]
            inbound = [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            self.layers.append((layer["class_name"], name, layer["config"], inbound))
            for key, value in weights.items():
                if key.startswith(name + "/"):
                    self.params[key] = self.convert(layer["class_name"], key, value)
            if name == feature:
                break
        self.input_name = self.layers[0][1]

    @staticmethod
    def convert(kind, key, value):
        t = torch.from_numpy(value.copy())
        if key.endswith("depthwise_kernel"):
            return t.permute(2, 3, 0, 1).contiguous()  # [kh,kw,C,1] -> [C,1,kh,kw]
        if key.endswith("/kernel") and t.dim() == 4:
            return t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        if key.endswith("/kernel") and t.dim() == 2:
            return t.t().contiguous()  # Dense [in,out] -> [out,in]
        return t

    def conv(self, x, name, cfg, depthwise):
        kernel = self.params[name + ("/depthwise_kernel" if depthwise else "/kernel")]
        stride = cfg["strides"][0]
        k = cfg["kernel_size"][0]
        padding = 0
        if cfg["padding"] == "same":
            top, bottom = same_padding(x.shape[2], k, stride)
            left, right = same_padding(x.shape[3], k, stride)
            if top == bottom and left == right:
                padding = (top, left)  # let the convolution pad: no extra copy
            else:
                x = F.pad(x, (left, right, top, bottom))  # TensorFlow pads stride-2 convs unevenly
        bias = self.params.get(name + "/bias")
        x = F.conv2d(x, kernel, bias, stride=stride, padding=padding, groups=x.shape[1] if depthwise else 1)
        return activate(x, cfg.get("activation", "linear"))

    def forward(self, x):
        values = {self.input_name: x.permute(0, 3, 1, 2)}
        out = None
        for kind, name, cfg, inbound in self.layers[1:]:
            args = [values[n] for n in inbound]
            x = args[0]
            if kind == "Conv2D":
                out = self.conv(x, name, cfg, False)
            elif kind == "DepthwiseConv2D":
                out = self.conv(x, name, cfg, True)
            elif kind == "BatchNormalization":
                p = self.params
                out = F.batch_norm(x, p[name + "/moving_mean"], p[name + "/moving_variance"], p.get(name + "/gamma"), p.get(name + "/beta"), False, 0.0, cfg["epsilon"])
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
            elif kind == "GlobalAveragePooling2D":
                out = x.mean(dim=(2, 3))
            else:
                raise ValueError(f"layer {name}: {kind} is not supported by this peer")
            values[name] = out
        return out.permute(0, 2, 3, 1) if out.dim() == 4 else out


def activate(x, name):
    if name in ("linear", None):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return torch.clamp(x, 0, 6)
    raise ValueError(f"activation {name} is not supported by this peer")


def extract(args):
    torch.set_num_threads(args.threads)
    layers, weights = load_tfjs(args.model)
    net = KerasGraph(layers, weights, args.feature).eval()
    size = layers[0]["config"]["batch_input_shape"][1]
    results = []
    with torch.inference_mode():
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            x = torch.rand(batch, size, size, 3) * 2 - 1
            run = (lambda: net(x).mean(dim=(1, 2))) if args.pool else (lambda: net(x))
            run()  # warm-up
            images, started = 0, time.perf_counter()
            while time.perf_counter() - started < args.seconds:
                run()
                images += batch
            results.append({"batch": batch, "images_per_second": images / (time.perf_counter() - started)})
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "threads": args.threads, "results": results}))


def verify(args):
    layers, weights = load_tfjs(args.model)
    net = KerasGraph(layers, weights, args.feature).eval()
    shape = [int(s) for s in args.shape.split(",")]
    x = torch.from_numpy(np.fromfile(args.input, dtype=np.float32).reshape(shape))
    with torch.inference_mode():
        out = net(x)
        out = (out.mean(dim=(1, 2)) if args.pool else out).numpy().astype(np.float32)
    sys.stdout.buffer.write(out.tobytes())


def load_split(root, classes):
    """(file, label) for every image of one split, classes in sorted order as Keras does."""
    items = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            items.append((os.path.join(folder, file), label))
    return items


def decode(path, size):
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32) / 127.5 - 1


def train(args):
    """Time to a trained head on a frozen backbone: the loop Keras fit() runs with frozen layers
    (backbone every batch of every epoch), or the one that runs it once and caches features."""
    torch.set_num_threads(args.threads)
    layers, weights = load_tfjs(args.model)
    net = KerasGraph(layers, weights, args.feature).eval()
    size = layers[0]["config"]["batch_input_shape"][1]
    classes = sorted(os.listdir(os.path.join(args.data, "train")))
    train_items = load_split(os.path.join(args.data, "train"), classes)
    val_items = load_split(os.path.join(args.data, "val"), classes)
    timings = {"decode": 0.0, "extract": 0.0, "head": 0.0}

    def features(items):
        out = []
        for start in range(0, len(items), 32):
            t0 = time.perf_counter()
            batch = torch.from_numpy(np.stack([decode(p, size) for p, _ in items[start : start + 32]]))
            t1 = time.perf_counter()
            with torch.inference_mode():
                out.append(net(batch).mean(dim=(1, 2)))
            timings["decode"] += t1 - t0
            timings["extract"] += time.perf_counter() - t1
        return torch.cat(out)

    width = net(torch.zeros(1, size, size, 3)).shape[-1]
    y_train = torch.tensor([l for _, l in train_items])
    y_val = torch.tensor([l for _, l in val_items])
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.mode == "per-epoch" and len(seeds) > 1:
        raise ValueError("per-epoch runs one seed")
    started = time.perf_counter()
    if args.mode == "cached":
        x_train, x_val = features(train_items), features(val_items)
    accuracies = []
    for seed in seeds:
        # The seeded parts of a run: the head's initial weights and the shuffling.
        torch.manual_seed(seed)
        head = torch.nn.Linear(width, len(classes))
        # Keras' Dense initialisation (Glorot uniform, zero bias), as ours: the same recipe in both.
        torch.nn.init.xavier_uniform_(head.weight)
        torch.nn.init.zeros_(head.bias)
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
        for epoch in range(args.epochs):
            if args.mode == "per-epoch":
                x_train, x_val = features(train_items), features(val_items)
            t0 = time.perf_counter()
            order = torch.randperm(len(train_items))
            for start in range(0, len(order), 32):
                index = order[start : start + 32]
                loss = F.cross_entropy(head(x_train[index]), y_train[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                val_acc = (head(x_val).argmax(-1) == y_val).float().mean().item()
            timings["head"] += time.perf_counter() - t0
        accuracies.append(val_acc)
        if seed == seeds[0]:
            # Times are the first seed's: one run, as ours is timed.
            first = {"seconds": time.perf_counter() - started, **timings}
    print(json.dumps({"mode": args.mode, "val_acc": accuracies[0], **first, "val_accs": accuracies}))


def heads(args):
    """Val accuracy after the last epoch, one head per seed, on features the caller computed."""
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.features, "meta.json")) as f:
        meta = json.load(f)
    width, classes = meta["width"], meta["classes"]

    def split(name):
        x = np.fromfile(os.path.join(args.features, name + ".f32"), dtype=np.float32).reshape(-1, width)
        y = np.fromfile(os.path.join(args.features, name + ".labels"), dtype=np.int32).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    (x_train, y_train), (x_val, y_val) = split("train"), split("val")
    accuracies = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        torch.manual_seed(seed)
        head = torch.nn.Linear(width, classes)
        optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
        for _ in range(args.epochs):
            order = torch.randperm(len(y_train))
            for start in range(0, len(order), args.batch_size):
                index = order[start : start + args.batch_size]
                loss = F.cross_entropy(head(x_train[index]), y_train[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            accuracies.append((head(x_val).argmax(-1) == y_val).float().mean().item())
    print(json.dumps({"val_accs": accuracies}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["extract", "verify", "train", "heads"])
    parser.add_argument("--model")
    parser.add_argument("--feature")
    parser.add_argument("--features", help="heads: folder of pooled features and labels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--pool", action="store_true", help="extract, verify: average the features over space (the head's pooling)")
    parser.add_argument("--input")
    parser.add_argument("--shape")
    parser.add_argument("--data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--mode", default="cached")
    parser.add_argument("--seeds", default="42", help="cached mode: train one head per seed on the same features")
    args = parser.parse_args()
    {"extract": extract, "verify": verify, "train": train, "heads": heads}[args.command](args)


if __name__ == "__main__":
    main()
