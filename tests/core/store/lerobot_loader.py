"""Read a dataset with the `lerobot` package's own LeRobotDataset; run in .venv-lerobot.

    python lerobot_loader.py DATASET OUT.npz   every item: state, action_source, images
    python lerobot_loader.py --probe           exit 0 when the loader imports

It runs in the environment scripts/lerobot_env.sh makes (lerobot with its dataset loader's
imports, CPU torch 2.13.0; no LWD code). PyPI's torchvision for torch 2.13 is a CUDA build
and no longer has ``torchvision.io.VideoReader``, which lerobot's "pyav" video backend calls:
when ``import torchvision`` fails, a stand-in with just that reader, on PyAV, is installed
before lerobot is imported. Everything else (the episode index, timestamps, the frame lookup
and its tolerance check, the float CHW conversion) is lerobot's own code.
"""

from __future__ import annotations

import sys
import types


def _torchvision_on_pyav() -> None:
    import av
    import torch

    class VideoReader:
        """The slice of ``torchvision.io.VideoReader`` lerobot uses: seek, iterate, container."""

        def __init__(self, path: str, stream: str = "video"):
            self.container = av.open(path)
            self._stream = self.container.streams.video[0]
            self._start = 0.0

        def seek(self, ts: float, keyframes_only: bool = False) -> VideoReader:
            self._start = ts
            self.container.seek(int(ts / self._stream.time_base), stream=self._stream,
                                backward=True, any_frame=not keyframes_only)
            return self

        def __iter__(self):
            for frame in self.container.decode(self._stream):
                pts = float(frame.pts * self._stream.time_base)
                data = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)
                yield {"pts": pts, "data": data}

    tv = types.ModuleType("torchvision")
    tv.set_video_backend = lambda backend: None
    tv.io = types.ModuleType("torchvision.io")
    tv.io.VideoReader = VideoReader
    tv.transforms = types.ModuleType("torchvision.transforms")
    tv.transforms.v2 = types.ModuleType("torchvision.transforms.v2")
    sys.modules.update({"torchvision": tv, "torchvision.io": tv.io,
                        "torchvision.transforms": tv.transforms,
                        "torchvision.transforms.v2": tv.transforms.v2})


def main(argv: list[str]) -> int:
    try:
        import torchvision  # noqa: F401
    except Exception:  # a CUDA build next to the CPU torch, or none: use the stand-in
        sys.modules.pop("torchvision", None)
        import datasets  # noqa: F401  (first: it probes for torchvision once, at import)

        _torchvision_on_pyav()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if argv[1:] == ["--probe"]:
        return 0
    import numpy as np

    root, out = argv[1], argv[2]
    d = LeRobotDataset("local/lwd", root=root, video_backend="pyav")
    cams = list(d.meta.camera_keys)
    items = [d[i] for i in range(len(d))]
    arrays = {
        "num_episodes": np.asarray(d.num_episodes),
        "state": np.stack([it["observation.state"].numpy() for it in items]),
        "action_source": np.asarray([int(it["action_source"]) for it in items]),
        "episode_index": np.asarray([int(it["episode_index"]) for it in items]),
        "task": np.asarray([it["task"] for it in items]),
    }
    for cam in cams:  # float CHW in [0, 1] -> uint8 HWC
        imgs = np.stack([it[cam].numpy() for it in items])
        arrays[cam] = np.round(imgs * 255).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    np.savez(out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
