"""The numerical checks of shared/algorithms.md §4.4, against exact Gaussian velocities.

Base distribution N(0.5, 0.3^2); its exact linear-path velocity is
f(x, t) = mu + A(t) (x - t mu), A(t) = (t s^2 - (1 - t)) / ((1 - t)^2 + t^2 s^2).
Each check also shows that the typical mistake (wrong sigma schedule, sign flip, mixed-up
flattened dimensions) is caught.
"""

import pytest
import torch

from lwd_core.learning.adjoint import (
    adjoint_matching_loss,
    lean_adjoint,
    memoryless_sigma,
    sample_memoryless,
)
from lwd_core.learning.flow import euler_sample, flow_matching_loss
from lwd_core.learning.networks import VelocityField

MU, S = 0.5, 0.3


@pytest.fixture(autouse=True)
def double():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def A(t):
    return (t * S * S - (1 - t)) / ((1 - t) ** 2 + t * t * S * S)


def f_beta(x, t):
    return MU + A(t)[:, None] * (x - t[:, None] * MU)


def noise(n=20000, d=1, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def tilted_sampler(K, sigmas, grad, beta=1.0, sign=1.0, qam_time_shift=False, d=1):
    """Fine-tuned ODE sampler f* = f_beta - sigma_i^2 / 2 a_i for a linear Q (constant adjoint)."""
    x0 = noise(d=d)
    traj = sample_memoryless(f_beta, f_beta, x0, K, sigmas=sigmas)
    sol = lean_adjoint(f_beta, traj, lambda x: sign * grad.expand_as(x), beta, sigmas=sigmas,
                       qam_time_shift=qam_time_shift)
    adj = sol.adjoints.mean(1)

    def f_star(x, t):
        i = int(round(t[0].item() * K))
        return f_beta(x, t) - sol.sigmas[i] ** 2 / 2 * adj[i]

    return euler_sample(f_star, x0, K), euler_sample(f_beta, x0, K)


# --- Check 1: the flow sampler. ---
def test_euler_sampler_with_exact_velocity_matches_the_table():
    assert euler_sample(f_beta, noise(), 10).std().item() == pytest.approx(0.247, abs=0.004)
    assert euler_sample(f_beta, noise(), 200).std().item() == pytest.approx(0.2975, abs=0.004)


def test_learned_flow_matches_exact_sampler_at_same_K():
    torch.manual_seed(0)
    net = VelocityField(1, 1, 64, layers=2).double()
    z = torch.zeros(1024, 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1500)
    gen = torch.Generator().manual_seed(1)
    for _ in range(1500):
        a = MU + S * torch.randn(1024, 1, generator=gen)
        loss = flow_matching_loss(lambda x, t: net(z, x, t), a, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    x0 = noise(4000)
    with torch.no_grad():
        learned = euler_sample(lambda x, t: net(torch.zeros(len(x), 1), x, t), x0, 10)
    exact = euler_sample(f_beta, x0, 10)
    assert learned.mean().item() == pytest.approx(exact.mean().item(), abs=0.03)
    assert learned.std().item() == pytest.approx(exact.std().item(), abs=0.03)


# --- Check 3: discrete QAM fixed point, linear Q (beta k = 2, target shift beta k s^2 = 0.18). ---
@pytest.mark.parametrize("K, qam_shift, expected", [(10, True, 0.213), (20, True, 0.195), (50, True, 0.185),
                                                    (10, False, 0.1415), (200, False, 0.1767)])
def test_linear_q_tilt_matches_the_table(K, qam_shift, expected):
    tuned, base = tilted_sampler(K, memoryless_sigma(K), torch.tensor([2.0]), qam_time_shift=qam_shift)
    assert (tuned.mean() - base.mean()).item() == pytest.approx(expected, abs=0.003)


def test_wrong_sigma_schedule_and_sign_flip_are_caught():
    K = 10
    t = torch.arange(K) / K
    wrong = torch.sqrt(2 * (t + 1 / K) * (1 - t))  # sqrt(2 t (1 - t)): the LWD-text schedule
    tuned, base = tilted_sampler(K, wrong, torch.tensor([2.0]))
    assert (tuned.mean() - base.mean()).item() < 0.09  # ~0.065: far from the 0.14–0.21 band
    tuned, base = tilted_sampler(K, memoryless_sigma(K), torch.tensor([2.0]), sign=-1.0)
    assert (tuned.mean() - base.mean()).item() < -0.1  # tilts the wrong way


# --- Check 5: d independent dims, no cross-talk after flattening. ---
def test_multidim_tilt_has_no_cross_talk():
    grad = torch.tensor([2.0, 0.0, -1.0, 4.0])
    tuned, base = tilted_sampler(50, memoryless_sigma(50), grad, d=4)
    shift = (tuned.mean(0) - base.mean(0))
    assert shift.shape == (4,)
    ratio = shift / (grad * 0.169 / 2)  # exact-convention value at K = 50 per unit of beta k
    assert torch.allclose(ratio[[0, 2, 3]], torch.ones(3), atol=0.03) and abs(shift[1]) < 1e-9


# --- Check 4: quadratic Q, on-policy iteration vs sampling from the base once. ---
def test_quadratic_q_on_policy_iteration_converges_to_the_tilt():
    K, beta_c = 100, 3.0
    coef = torch.zeros(K, 2)  # f_theta(x, t_i) = f_beta(x, t_i) + coef[i, 0] + coef[i, 1] x

    def f_theta(x, t):
        i = int(round(t[0].item() * K))
        return f_beta(x, t) + coef[i, 0] + coef[i, 1] * x

    def grad_q(x):  # Q = -c (a - 1)^2, beta = 1: grad = -2 c (a - 1)
        return -2 * beta_c * (x - 1)

    results = []
    for it in range(6):
        traj = sample_memoryless(f_theta, f_beta, noise(20000, seed=it), K, generator=torch.Generator().manual_seed(it))
        sol = lean_adjoint(f_beta, traj, grad_q, 1.0)
        new = torch.zeros(K, 2)
        for i in range(K):  # least-squares refit of the residual target -sigma^2/2 a_i(x)
            x = traj[i, :, 0]
            X = torch.stack([torch.ones_like(x), x], 1)
            y = -(sol.sigmas[i] ** 2) / 2 * sol.adjoints[i, :, 0]
            new[i] = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
        coef = new
        out = euler_sample(f_theta, noise(20000, seed=99), K)
        results.append((out.mean().item(), out.std().item()))
    first, last = results[0], results[-1]
    assert first[0] == pytest.approx(0.727, abs=0.015) and first[1] == pytest.approx(0.223, abs=0.01)
    assert last[0] == pytest.approx(0.675, abs=0.015) and last[1] == pytest.approx(0.236, abs=0.01)


# --- Check 6: lean adjoint = back-propagation through the same discrete chain when f_theta = f_beta. ---
def test_lean_adjoint_equals_autograd_through_the_chain():
    torch.manual_seed(0)
    net = VelocityField(2, 3, 32, layers=2).double()
    z = torch.randn(5, 2)

    def f(x, t):
        return net(z, x, t)

    K, beta = 8, 1.7
    center = torch.tensor([0.3, -0.2, 0.5])

    def q(x):
        return -((x - center) ** 2).sum(-1)

    x0 = torch.randn(5, 3)
    traj = sample_memoryless(f, f, x0, K, generator=torch.Generator().manual_seed(3))
    sol = lean_adjoint(f, traj, lambda x: torch.func.vmap(torch.func.grad(q))(x), beta)
    # Rebuild the chain with the same noise, differentiably.
    gen = torch.Generator().manual_seed(3)
    sig, h = memoryless_sigma(K), 1 / K
    xs = [x0.clone().requires_grad_(True)]
    for i in range(K):
        x, t = xs[-1], torch.full((5,), i / K)
        if i < K - 1:
            nxt = x + h * (2 * f(x, t) - x / (i * h + h)) + h**0.5 * sig[i] * torch.randn(x.shape, generator=gen)
        else:
            nxt = x + h * f(x, t)
        nxt.retain_grad()
        xs.append(nxt)
    torch.testing.assert_close(xs[-1].detach(), traj[-1])
    (beta * q(xs[-1])).sum().backward()
    for i in range(K):
        torch.testing.assert_close(-sol.adjoints[i], xs[i].grad, atol=1e-8, rtol=1e-6)
    assert not torch.allclose(sol.adjoints[0], xs[0].grad)  # a sign flip would not pass


def test_adjoint_matching_loss_minimiser_is_the_tilted_velocity():
    K = 10
    x0 = noise(256)
    traj = sample_memoryless(f_beta, f_beta, x0, K)
    sol = lean_adjoint(f_beta, traj, lambda x: torch.full_like(x, 2.0), 1.0)
    adj = sol.adjoints.mean(1)

    def f_star(x, t):
        i = int(round(t[0].item() * K))
        return f_beta(x, t) - sol.sigmas[i] ** 2 / 2 * adj[i]

    assert adjoint_matching_loss(f_star, f_beta, sol).item() < 1e-12
    assert adjoint_matching_loss(f_beta, f_beta, sol).item() > 0.1
