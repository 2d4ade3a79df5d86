"""Actor-critic networks for discrete actions, in Flax and in dm-haiku.

One torso shared by a policy head and a value head, so that the split
families see the agent's parts by name: `torso/...` layers, `policy_head`,
`value_head` (the `layers` family gives each layer, `stages` the three
parts, `types` kernels vs biases). Initialisation follows purejaxrl and the
PPO implementation details: orthogonal kernels (gain sqrt(2) in the torso,
0.01 for the policy, 1 for the value), zero biases; a task may give the
torso's convolutions another initialiser (`conv_init`, `CONV_INITS`).

Torsos:
  mlp: dense layers (`hidden`), tanh, for vector observations (CartPole).
  minatar: the MinAtar paper's network, one 3x3 convolution of 16 channels
    (stride 1, ReLU) then dense layers, for `10 x 10 x C` observations.
  impala: IMPALA's deep residual torso (Espeholt et al., 2018) for envpool's
    channel-first `C x 84 x 84` uint8 frames: three sections (16, 32, 32
    channels) of a 3x3 convolution, 3x3 max-pooling of stride 2 and two
    residual blocks (ReLU, conv, ReLU, conv), then ReLU and dense layers.
    Its layers are `section<i>/conv`, `section<i>/block<j>/conv<k>`.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from tasks import resnet_layers

TORSOS = ("mlp", "minatar", "impala")
_SQRT2 = float(np.sqrt(2.0))
IMPALA_CHANNELS = (16, 32, 32)


# Roles (`spec.Task.roles`) where the layer order does not say them: the
# policy head is the head; the value head is not part of the policy.
ROLES = {"head": {"withhold": ("params/policy_head/**",), "keep": ()},
         "all-but-head": {"withhold": ("**",),
                          "keep": ("params/policy_head/**",)}}


# Kernel initialisers of the torso's convolutions, by name.
CONV_INITS = {
    # purejaxrl's, for every torso before `conv_init` existed.
    "orthogonal": nn.initializers.orthogonal(_SQRT2),
    # Flax's default, which IMPALA torsos in JAX use (cleanba). In the deep
    # residual torso, orthogonal(sqrt 2) kernels make features of norm ~58
    # on ViZDoom frames at initialisation (values ~2.6 where returns are
    # ~0.003); lecun_normal makes ~6 (BUILD_NOTES).
    "lecun_normal": nn.initializers.lecun_normal(),
}


def _conv(channels: int, name: str, init: str) -> nn.Conv:
  return nn.Conv(channels, (3, 3), padding="SAME", name=name,
                 kernel_init=CONV_INITS[init],
                 conv_general_dilated=resnet_layers.conv_general_dilated)


class ResidualBlock(nn.Module):
  channels: int
  conv_init: str

  @nn.compact
  def __call__(self, x):
    y = _conv(self.channels, "conv0", self.conv_init)(nn.relu(x))
    y = _conv(self.channels, "conv1", self.conv_init)(nn.relu(y))
    return x + y


class ImpalaSection(nn.Module):
  channels: int
  conv_init: str

  @nn.compact
  def __call__(self, x):
    x = _conv(self.channels, "conv", self.conv_init)(x)
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
    x = ResidualBlock(self.channels, self.conv_init, name="block0")(x)
    return ResidualBlock(self.channels, self.conv_init, name="block1")(x)


class Torso(nn.Module):
  """`layer_norm`: each dense layer's outputs are standardised (LayerNorm
  without a learned scale or offset, so no parameters) before the
  activation. Then a loss that pulls every feature towards zero, as a value
  target of 0 and an entropy bonus do on a sparse-reward task, cannot make
  the units fall silent, and a unit that is never active never learns
  again. (It can still make them depend less on the input: BUILD_NOTES.)"""

  kind: str
  hidden: Sequence[int]
  conv_init: str = "orthogonal"
  layer_norm: bool = False
  # The MinAtar torso's convolution layer, called like `nn.Conv`: flax's
  # (with XLA's convolution, or one of `resnet_layers.KERNEL_GRAD_CONVS`),
  # or `resnet_layers.RowBandConv`.
  conv: Any = nn.Conv
  # The MinAtar torso's features after its convolution written once, behind
  # an optimisation barrier: with `RowBandConv`, XLA:GPU computed them
  # twice, once for each matrix product that reads them (the dense layer
  # and its kernel gradient; BUILD_NOTES, 2026-12-03, second session).
  conv_features_once: bool = False

  @nn.compact
  def __call__(self, x):
    x = x.astype(jnp.float32)
    activation = nn.tanh if self.kind == "mlp" else nn.relu
    if self.kind == "impala":
      x = jnp.transpose(x, (0, 2, 3, 1)) / 255.0  # envpool: channel first.
      for i, channels in enumerate(IMPALA_CHANNELS):
        x = ImpalaSection(channels, self.conv_init, name=f"section{i}")(x)
      x = nn.relu(x)
    if self.kind == "minatar":
      x = nn.relu(self.conv(16, (3, 3), padding="VALID", name="conv",
                            kernel_init=CONV_INITS[self.conv_init])(x))
      if self.conv_features_once:
        x = jax.lax.optimization_barrier(x)
    x = x.reshape((x.shape[0], -1))
    for i, width in enumerate(self.hidden):
      x = nn.Dense(width, name=f"dense{i}",
                   kernel_init=nn.initializers.orthogonal(_SQRT2))(x)
      if self.layer_norm:
        x = nn.LayerNorm(use_bias=False, use_scale=False)(x)
      x = activation(x)
    return x


class ActorCritic(nn.Module):
  """`(logits [b, actions], values [b])` for a batch of observations.

  `shared=False` gives the actor and the critic torsos of their own
  (`actor_torso`, `critic_torso`), as purejaxrl's MLP agents have.
  """

  num_actions: int
  torso: str = "mlp"
  hidden: Sequence[int] = (64, 64)
  shared: bool = True
  conv_init: str = "orthogonal"
  layer_norm: bool = False
  conv: Any = nn.Conv  # As `Torso`'s, and:
  conv_features_once: bool = False

  @nn.compact
  def __call__(self, observations):
    make_torso = lambda name: Torso(self.torso, tuple(self.hidden),
                                    self.conv_init, self.layer_norm,
                                    self.conv, self.conv_features_once,
                                    name=name)
    if self.shared:
      actor_features = critic_features = make_torso("torso")(observations)
    else:
      actor_features = make_torso("actor_torso")(observations)
      critic_features = make_torso("critic_torso")(observations)
    logits = nn.Dense(self.num_actions, name="policy_head",
                      kernel_init=nn.initializers.orthogonal(0.01))(
                          actor_features)
    values = nn.Dense(1, name="value_head",
                      kernel_init=nn.initializers.orthogonal(1.0))(
                          critic_features)
    return logits, values[:, 0]


def in_turn_on_cpu(init):
  """`init(key)` whose vmapped form initialises the runs one after another
  (`lax.map`) on the CPU, and as one batch elsewhere.

  Why: orthogonal initialisation takes a QR decomposition per kernel, and
  jaxlib 0.10's CPU LAPACK kernels split a batched one over XLA's intra-op
  thread pool, then block until its parts are done. When a program runs as
  many of them at once as the pool has threads (2 on a 2-core machine; the
  IMPALA torso has 18 kernels), every thread waits for work that no thread
  is free to do, and the program hangs (BUILD_NOTES). One run at a time has
  nothing to split. Each run's values are the same bit for bit either way.
  """

  @jax.custom_batching.custom_vmap
  def one_at_a_time(key):
    return init(key)

  @one_at_a_time.def_vmap
  def batched(axis_size, in_batched, keys):
    del axis_size, in_batched  # One argument, the batched keys.
    variables = jax.lax.platform_dependent(
        keys, cpu=lambda k: jax.lax.map(one_at_a_time, k),
        default=jax.vmap(init))
    return variables, jax.tree.map(lambda _: True, variables)

  return one_at_a_time


def flax_network(num_actions: int, torso: str, hidden: Sequence[int],
                 shared: bool, observation_shape: Sequence[int],
                 conv_init: str = "orthogonal", layer_norm: bool = False,
                 conv=nn.Conv, conv_features_once: bool = False):
  """`(init(key) -> variables, apply(variables, observations))`; `conv_init`
  names the torso's convolution initialiser (`CONV_INITS`), `layer_norm`
  normalises its dense layers, `conv` and `conv_features_once` are the
  MinAtar torso's convolution layer and barrier (`Torso`)."""
  if conv_init not in CONV_INITS:
    raise ValueError(f"unknown conv_init {conv_init!r}; known: "
                     f"{', '.join(CONV_INITS)}")
  model = ActorCritic(num_actions, torso, tuple(hidden), shared, conv_init,
                      layer_norm, conv, conv_features_once)
  example = jnp.zeros((1, *observation_shape), jnp.float32)

  def init(key):
    return dict(model.init(key, example))

  return in_turn_on_cpu(init), model.apply


def haiku_network(num_actions: int, torso: str, hidden: Sequence[int],
                  shared: bool, observation_shape: Sequence[int]):
  """The same network in dm-haiku (MLP torso): the splitter only sees a
  pytree of parameters, whatever built it.

  Haiku names the layers `<torso>_dense<i>` (`torso`, or `actor_torso` and
  `critic_torso`), `policy_head` and `value_head`.
  """
  if torso != "mlp":
    raise ValueError("the haiku network has the MLP torso only")
  import haiku as hk  # pylint: disable=g-import-not-at-top

  def mlp(x, prefix):
    x = x.astype(jnp.float32).reshape((x.shape[0], -1))
    for i, width in enumerate(hidden):
      x = jnp.tanh(hk.Linear(width, name=f"{prefix}_dense{i}",
                             w_init=hk.initializers.Orthogonal(_SQRT2))(x))
    return x

  def forward(observations):
    if shared:
      actor_features = critic_features = mlp(observations, "torso")
    else:
      actor_features = mlp(observations, "actor_torso")
      critic_features = mlp(observations, "critic_torso")
    logits = hk.Linear(num_actions, name="policy_head",
                       w_init=hk.initializers.Orthogonal(0.01))(actor_features)
    values = hk.Linear(1, name="value_head",
                       w_init=hk.initializers.Orthogonal(1.0))(critic_features)
    return logits, values[:, 0]

  model = hk.without_apply_rng(hk.transform(forward))
  example = jnp.zeros((1, *observation_shape), jnp.float32)

  def init(key):
    return {"params": model.init(key, example)}

  def apply(variables, observations):
    return model.apply(variables["params"], observations)

  return in_turn_on_cpu(init), apply


FRAMEWORKS = {"flax": flax_network, "haiku": haiku_network}

