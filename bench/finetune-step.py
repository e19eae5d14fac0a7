"""PyTorch peer of bench/finetune-step.ts: seconds per training step of MobileNet v1 0.25's last two
blocks and a dense head on 14x14x128 features (BatchNorm statistics frozen: eval mode, gamma and
beta trainable), autograd + Adam (lr 1e-3, eps 1e-7 as Keras), on a fixed number of threads.
Prints one JSON object: {"seconds": [per-step timings], "threads": N, "torch": version}.
Only timing is measured here, so the weights are PyTorch's initialisation, not MobileNet's.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SamePad(nn.Module):
    """TensorFlow's 'same' padding for a 3x3 stride-2 convolution on an even size: the odd pixel goes bottom/right."""

    def forward(self, x):
        return F.pad(x, (0, 1, 0, 1))


def block(channels, out, stride):
    layers = [SamePad()] if stride == 2 else []
    layers += [
        nn.Conv2d(channels, channels, 3, stride=stride, padding=0 if stride == 2 else 1, groups=channels, bias=False),
        nn.BatchNorm2d(channels, eps=1e-3),
        nn.ReLU6(),
        nn.Conv2d(channels, out, 1, bias=False),
        nn.BatchNorm2d(out, eps=1e-3),
        nn.ReLU6(),
    ]
    return layers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--bn-train", action="store_true", help="BatchNorm with batch statistics (train mode)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(*block(128, 256, 2), *block(256, 256, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, args.classes))
    if args.bn_train:
        model.train()
    else:
        model.eval()  # BatchNorm with frozen statistics, as Keras' fine-tuning default
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(args.batch, 128, 14, 14) * 6
    y = torch.randint(0, args.classes, (args.batch,))
    seconds = []
    for step in range(args.warmup + args.steps):
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()
        if step >= args.warmup:
            seconds.append(time.perf_counter() - started)
    print(json.dumps({"seconds": seconds, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
