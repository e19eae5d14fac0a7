"""Float64 PyTorch reference for the native training graph's gradients (resnet-float64.test.ts).

Reads from DIR what the test wrote: manifest.json (the trainable layers in call order with their
Keras configs, every weight's name, shape and offset in weights.f32, the weights whose gradients
are wanted), features.f32 (channels-last), output_grad.f32, and optionally the graph's own ReLU masks
(masks.json: the ReLU activation layers in order; masks.u8: their NCHW masks one after another):
float64 and float32 may take different sides of the kink where a pre-activation is within
rounding of zero, and that one element changes every gradient upstream of it, so the reference
takes the graph's decisions and reports in masks_checked.json how many differ from its own.
Computes, in float64 with autograd, the
gradient of sum(output * output_grad) with respect to each wanted weight (Keras layout) and to the
features, and writes them as float32 to DIR/ref_<i>.f32 and DIR/ref_input.f32.
BatchNormalization runs in inference mode (moving statistics), as the graph's 'frozen' mode.
Usage: python3 suffix_float64.py DIR
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
torch.set_num_threads(int(os.environ.get("THREADS", "2")))


def same_padding(size, kernel, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def activate(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    raise ValueError(f"activation {name}")


def main(root):
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    flat = np.fromfile(os.path.join(root, "weights.f32"), dtype=np.float32).astype(np.float64)
    params = {}
    for w in manifest["weights"]:
        size = int(np.prod(w["shape"]))
        params[w["name"]] = torch.from_numpy(flat[w["offset"] : w["offset"] + size].reshape(w["shape"]).copy()).requires_grad_(w["name"] in manifest["wanted"])
    batch = manifest["batch"]
    h, w_, c = manifest["featureShape"]
    features = np.fromfile(os.path.join(root, "features.f32"), dtype=np.float32).astype(np.float64).reshape(batch, h, w_, c)
    x = torch.from_numpy(features).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    values = {manifest["input"]: x}
    masks, flipped, at = {}, 0, 0
    if os.path.exists(os.path.join(root, "masks.json")):
        names = json.load(open(os.path.join(root, "masks.json")))
        given = np.fromfile(os.path.join(root, "masks.u8"), dtype=np.uint8)
        masks = {name: None for name in names}
    out = None
    for layer in manifest["layers"]:
        kind, name, cfg = layer["class"], layer["name"], layer["config"]
        args = [values[n] for n in layer["inputs"]]
        a = args[0]
        if kind == "Conv2D":
            kernel = params[name + "/kernel"].permute(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
            k, stride = cfg["kernelSize"][0], cfg["strides"][0]
            if cfg["padding"] == "same":
                top, bottom = same_padding(a.shape[2], k, stride)
                left, right = same_padding(a.shape[3], k, stride)
                a = F.pad(a, (left, right, top, bottom))
            out = activate(F.conv2d(a, kernel, params.get(name + "/bias"), stride=stride), cfg.get("activation"))
        elif kind == "BatchNormalization":
            p = lambda n: params.get(f"{name}/{n}")  # noqa: E731
            out = F.batch_norm(a, p("moving_mean"), p("moving_variance"), p("gamma"), p("beta"), False, 0.0, cfg["epsilon"])
        elif kind == "Activation" and name in masks:
            mask = torch.from_numpy(given[at : at + a.numel()].reshape(a.shape).astype(np.float64))
            at += a.numel()
            flipped += int(((a > 0).double() != mask).sum())
            out = a * mask
        elif kind == "Activation":
            out = activate(a, cfg["activation"])
        elif kind == "Add":
            out = sum(args[1:], args[0])
        elif kind == "GlobalAveragePooling2D":
            out = a.mean(dim=(2, 3))
        elif kind == "Dense":
            out = activate(a @ params[name + "/kernel"] + params[name + "/bias"], cfg.get("activation"))
        else:
            raise ValueError(f"layer {name}: {kind} is not in this reference")
        values[name] = out
    if masks:
        assert at == len(given), f"{len(given)} mask values given, {at} used"
        json.dump({"flipped": flipped}, open(os.path.join(root, "masks_checked.json"), "w"))
    r = torch.from_numpy(np.fromfile(os.path.join(root, "output_grad.f32"), dtype=np.float32).astype(np.float64).reshape(out.shape))
    wanted = [params[n] for n in manifest["wanted"]]
    grads = torch.autograd.grad((out * r).sum(), wanted + [x])
    for i, g in enumerate(grads[:-1]):
        g.detach().numpy().astype(np.float32).tofile(os.path.join(root, f"ref_{i}.f32"))
    grads[-1].permute(0, 2, 3, 1).detach().numpy().astype(np.float32).tofile(os.path.join(root, "ref_input.f32"))


if __name__ == "__main__":
    main(sys.argv[1])
