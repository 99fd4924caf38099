"""The model zoo's models (core/zoo.c) as PyTorch nn.Sequential, layer for
layer, so that state_dict names and shapes match libgan's checkpoints, and
libgan's DCGAN initialization (weights_init)."""
from torch import nn


def models(name, channels=1):
    """G, D and the shape of one noise vector of the named model with
    `channels` image channels (1 grey, 3 colour)."""
    lrelu = lambda: nn.LeakyReLU(0.2)
    c = channels
    if name == "gan":
        g = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, c * 784), nn.Tanh(), nn.Unflatten(1, (c, 28, 28)))
        d = nn.Sequential(nn.Flatten(), nn.Linear(c * 784, 256), lrelu(), nn.Linear(256, 256), lrelu(),
                          nn.Linear(256, 1))
        return g, d, (64,)
    if name == "dcgan":
        g = nn.Sequential(nn.ConvTranspose2d(64, 256, 3, 2), nn.BatchNorm2d(256), nn.ReLU(),
                          nn.ConvTranspose2d(256, 128, 4, 1), nn.BatchNorm2d(128), nn.ReLU(),
                          nn.ConvTranspose2d(128, 64, 3, 2), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.ConvTranspose2d(64, c, 4, 2), nn.Tanh())
        d = nn.Sequential(nn.Conv2d(c, 16, 3, 2), nn.BatchNorm2d(16), lrelu(),
                          nn.Conv2d(16, 32, 5, 2), nn.BatchNorm2d(32), lrelu(),
                          nn.Conv2d(32, 64, 5, 2), nn.BatchNorm2d(64), lrelu(),
                          nn.Flatten(), nn.Linear(64, 1))
        return g, d, (64, 1, 1)
    f = 64
    g = nn.Sequential(nn.ConvTranspose2d(100, f * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(f * 8), nn.ReLU(),
                      nn.ConvTranspose2d(f * 8, f * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(f * 4), nn.ReLU(),
                      nn.ConvTranspose2d(f * 4, f * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(f * 2), nn.ReLU(),
                      nn.ConvTranspose2d(f * 2, f, 4, 2, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                      nn.ConvTranspose2d(f, c, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(c, f, 4, 2, 1, bias=False), lrelu(),
                      nn.Conv2d(f, f * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(f * 2), lrelu(),
                      nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(f * 4), lrelu(),
                      nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(f * 8), lrelu(),
                      nn.Conv2d(f * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
    return g, d, (100, 1, 1)


def weights_init(m):
    """N(0, 0.02) weights and zero biases, BatchNorm gamma N(1, 0.02), as libgan does."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
