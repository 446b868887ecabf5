"""The course's RMB LeNet loop: PIL decoding every epoch, num_workers=0, validation every epoch.

It imports torch, torchvision and PIL and the project's plain parts (LeNet, its initialisation, the split);
nothing here imports Lightning, so ``_course_script`` can run it as the course's whole script would.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from benchmarks._course import CourseImages
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD
from lit_modules.nets import LeNet, initialize


def accuracy(net: nn.Module, loader: DataLoader) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (net(images).argmax(1) == labels).sum().item()
            total += labels.size(0)
    net.train()
    return correct / total


def course_loop(splits: dict[str, list], seed: int, epochs: int) -> tuple[float, float]:
    """Train on ``splits`` (train/val/test samples) as the course does; (seconds, test accuracy)."""
    torch.manual_seed(seed)
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = transforms.Compose(
        [transforms.Resize((32, 32)), transforms.RandomCrop(32, padding=4), transforms.ToTensor(), normalize]
    )
    eval_tf = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(), normalize])
    train = DataLoader(CourseImages(splits["train"], train_tf), batch_size=16, shuffle=True)
    valid = DataLoader(CourseImages(splits["val"], eval_tf), batch_size=16)
    test = DataLoader(CourseImages(splits["test"], eval_tf), batch_size=16)
    net = initialize(LeNet(2), "course")
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    start = time.perf_counter()
    for _ in range(epochs):
        correct = total = 0
        for images, labels in train:
            optimizer.zero_grad()
            outputs = net(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
        scheduler.step()
        accuracy(net, valid)
    seconds = time.perf_counter() - start
    return seconds, accuracy(net, test)
