"""``lwd gen-data``: offline Meta-World data from the scripted experts, with action noise.

Each episode runs the task's scripted expert with Gaussian noise of one of the given levels
added to every action (the *noisy action is what is recorded*, so low-noise episodes look like
good demonstrations and high-noise ones like a struggling policy: successes and failures both).
Episodes end on success or after ``--max-steps`` (failure). Output: an LWD demo folder
(``lwd_core.data.demo_folder``) that ``lwd train --offline`` and ``lwd episodes import`` read.
"""

from __future__ import annotations

import numpy as np

from lwd_core.data.episode import SOURCE_DEMO, Episode


def rollout(env, noise: float, rng: np.random.Generator, episode_id: str) -> Episode:
    obs = env.reset()
    states, actions = [], []
    while not env.done:
        a = np.clip(env.expert_action(obs) + rng.normal(0, noise, env.action_dim), -1, 1).astype(np.float32)
        states.append(obs)
        obs, applied, _ = env.step(a)
        actions.append(applied)
    n = len(states)
    return Episode(episode_id, env.task, np.asarray(states, np.float32), np.asarray(actions, np.float32),
                   np.full(n, SOURCE_DEMO, np.uint8), np.zeros(n, np.int32),
                   outcome="success" if env.success else "failure", final_state=obs,
                   instruction=env.task.rsplit("-", 1)[0].replace("-", " "))


def generate(tasks, episodes: int, noises, max_steps: int, seed: int, out: str, progress: bool = True) -> dict:
    from lwd_core.data.demo_folder import DemoFolderWriter
    from lwd_core.progress import progress as progress_bar
    from lwd_operator.sim.metaworld_env import MetaWorldEnv

    writer = DemoFolderWriter(out, MetaWorldEnv.obs_dim, MetaWorldEnv.action_dim)
    stats: dict[tuple[str, float], list[int]] = {}
    bar = progress_bar(total=len(tasks) * len(noises) * episodes, desc="episodes", enabled=progress, unit="ep")
    for ti, task in enumerate(tasks):
        env = MetaWorldEnv(task, seed=seed + 1000 * ti, max_steps=max_steps)
        rng = np.random.default_rng(seed + ti)
        for noise in noises:
            for i in range(episodes):
                ep = rollout(env, noise, rng, f"{task}-noise{round(noise * 100):03d}-{i:04d}")
                writer.write(ep)
                stats.setdefault((task, noise), []).append(ep.outcome == "success")
                bar.update()
    bar.close()
    return {k: float(np.mean(v)) for k, v in stats.items()}
