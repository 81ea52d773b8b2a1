"""Train the zoo's digits_cnn on scikit-learn's digits and write its weights to
graphs/zoo/data/digits_cnn.npz (needs the torch extra and scikit-learn).

    python examples/train_digits_cnn.py            # about 20 s on 2 CPU cores

The torch model is built from the zoo graph itself (same layers, same names), trained with
Adam for 60 epochs on the training split of ``graphs.zoo.digits.digits_split``, and its
test accuracy is printed. Deterministic (seed 0, one thread).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from graphs.zoo.digits import WEIGHTS, digits_cnn, digits_split


class DigitsCNN(nn.Module):
    """The torch twin of :func:`graphs.zoo.digits.digits_cnn`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.conv3, self.bn3 = nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.fc1, self.fc2 = nn.Linear(32 * 4 * 4, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.relu(self.bn3(self.conv3(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in digits_split())
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(60):
        model.train()
        for batch in torch.randperm(len(y_train)).split(64):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    state = {k: v.numpy() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    graph = digits_cnn()
    expected = {f"{layer.name}.{key}" for layer in graph for key in layer.weight_specs}
    if set(state) != expected:
        raise SystemExit(f"torch and zoo layers differ: {sorted(set(state) ^ expected)}")
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(WEIGHTS, **{k: v.astype(np.float32) for k, v in state.items()})
    print(f"test accuracy {accuracy:.4f} on {len(y_test)} images; wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
