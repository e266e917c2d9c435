"""Per-placement acceleration templates of one step (trunk) or one stride (leg), learnt from
real recordings, and the phase averaging that learns and compares them.

A template is two tables in g, one row per sensor axis: the stance phase sampled at
``u = i / n`` of the contact time (foot-on to foot-off) and the flight or swing phase sampled
the same way from foot-off to the next foot-on of the same foot (trunk: of either foot). The
synthetic runner stretches each table over its own contact and flight times, so a template
carries shape and size, never a fixed duration. ``python -m sim.calibrate`` re-derives every
number below from ``../shared/data/traces``.

Sources:
- sacrum: mean over the steps of the five level Alcantara trials (t02 t03 t04 t06 t28,
  2.5-4.17 m/s, 500 Hz, force-plate foot-on/off; Alcantara et al. 2022, PeerJ 10:e12752,
  Apache-2.0). Axes (up, forward) as recorded; the up axis was never below 0 g in the
  published data.
- shank: mean over the 35 sensor-leg strides of bach-shank-running t01 t02 t13 (8.5 km/h,
  142.857 Hz, force-plate foot-on/off of the sensor leg; Bach, Dominici & Daffertshofer 2022,
  GPL-3.0: only these averaged numbers are used, no data is copied). The recorded x and y axes
  are negated so that x reads +1 g standing (the file's x read -1 g, i.e. pointed down).
  Axes (up, medio-lateral, forward). Impact peaks were clipped at 8 g in the recording, so the
  mean impact is a lower bound.
- foot: wmf-foot-run (shoe-mounted LSM6DS3, ~100 Hz; fuzzylabs/wearable-my-foot,
  Apache-2.0). No truth: strides are aligned on impact peaks of |a| (>= 3 g, >= 0.5 s apart),
  foot-on is taken FOOT_FOOT_ON_LEAD_S before the peak and foot-off at FOOT_DUTY of the stride.
  The orientation is unknown: the axes are rotated to up = mean acceleration, forward = the
  horizontal direction of largest variance (its sign is not determined), side = the third.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TRUNK_STANCE_POINTS: Final = 40
TRUNK_FLIGHT_POINTS: Final = 20
LEG_STANCE_POINTS: Final = 30
LEG_FLIGHT_POINTS: Final = 40
FOOT_FOOT_ON_LEAD_S: Final = 0.02
FOOT_DUTY: Final = 0.35
MAX_STEP_S: Final = 2.0
EARLY_STANCE: Final = 0.35


def phase_average(
    t: FloatArray,
    values: FloatArray,
    foot_on_s: FloatArray,
    foot_off_s: FloatArray,
    next_on_s: FloatArray,
    stance_points: int,
    flight_points: int,
) -> tuple[FloatArray, FloatArray]:
    """Mean stance and flight waveforms of ``values`` (n, k): each phase resampled at
    ``stance_points`` (``flight_points``) equal fractions of its own duration, then averaged
    over the steps whose phases are ordered, lie inside the samples and last under MAX_STEP_S.

    Returns arrays of shape (stance_points, k) and (flight_points, k).
    """
    usable = (
        (foot_on_s < foot_off_s)
        & (foot_off_s < next_on_s)
        & (next_on_s - foot_on_s < MAX_STEP_S)
        & (foot_on_s >= t[0])
        & (next_on_s <= t[-1])
    )
    if not np.any(usable):
        raise ValueError("no complete step inside the samples")
    on, off, nxt = foot_on_s[usable], foot_off_s[usable], next_on_s[usable]
    u_stance = np.arange(stance_points) / stance_points
    u_flight = np.arange(flight_points) / flight_points
    stance_t = on[:, None] + u_stance[None, :] * (off - on)[:, None]
    flight_t = off[:, None] + u_flight[None, :] * (nxt - off)[:, None]
    stance = np.stack([np.interp(stance_t, t, column).mean(axis=0) for column in values.T], 1)
    flight = np.stack([np.interp(flight_t, t, column).mean(axis=0) for column in values.T], 1)
    return stance, flight


def early_stance_peaks_g(
    t: FloatArray, up_g: FloatArray, foot_on_s: FloatArray, foot_off_s: FloatArray
) -> FloatArray:
    """Impact peak of each contact: the largest ``up_g`` in its first EARLY_STANCE of stance
    (contacts with no sample there are left out)."""
    first = np.searchsorted(t, foot_on_s, side="left")
    stop = np.searchsorted(t, foot_on_s + EARLY_STANCE * (foot_off_s - foot_on_s), side="right")
    peaks = [up_g[a:b].max() for a, b in zip(first, stop, strict=True) if b > a]
    return np.array(peaks, dtype=np.float64)


@dataclass(frozen=True)
class Template:
    """One placement's waveform: ``stance_g`` (axes, n) and ``flight_g`` (axes, m) in g.

    ``per_stride``: one cycle per stride of the sensor leg (leg placements) rather than one per
    step of either foot (trunk). ``up_mean_g``: if set, each cycle's up row is scaled so that
    its time average is this value (the trunk's vertical impulse over a step balances body
    weight, so shorter contacts get taller peaks). ``impact_scale``: factor on the early-stance
    excursion (from the foot-on value) of every step: averaging over steps that do not line up
    exactly flattens the mean template's peak, and this restores the median single-step peak.
    """

    stance_g: FloatArray
    flight_g: FloatArray
    axes: tuple[str, ...]
    axes_note: str
    up_row: int
    forward_row: int
    per_stride: bool
    up_mean_g: float | None
    impact_scale: float
    source: str


def _table(text: str, axes: int) -> FloatArray:
    return np.array(text.split(), dtype=np.float64).reshape(axes, -1)


# Tables printed by ``python -m sim.calibrate`` (rows: axes in the order of Template.axes).
SACRUM_STANCE_G = _table(
    """
      0.232   0.437   0.791   1.324   1.986   2.575   2.804   2.554   2.028   1.571
      1.409   1.568   1.893   2.173   2.304   2.334   2.344   2.364   2.373   2.349
      2.295   2.227   2.167   2.124   2.091   2.047   1.972   1.860   1.716   1.551
      1.373   1.187   0.998   0.814   0.650   0.519   0.433   0.391   0.384   0.391
     -0.643  -1.058  -1.551  -1.979  -2.105  -1.779  -1.138  -0.546  -0.297  -0.391
     -0.579  -0.603  -0.405  -0.129   0.041   0.036  -0.067  -0.161  -0.180  -0.134
     -0.066  -0.013   0.020   0.050   0.089   0.136   0.179   0.201   0.195   0.160
      0.101   0.027  -0.051  -0.128  -0.201  -0.275  -0.353  -0.435  -0.514  -0.588
    """,
    axes=2,
)

SACRUM_FLIGHT_G = _table(
    """
      0.393   0.378   0.333   0.255   0.152   0.053   0.014   0.002   0.000   0.000
      0.000   0.000   0.000   0.000   0.000   0.000   0.012   0.035   0.071   0.128
     -0.652  -0.701  -0.746  -0.790  -0.828  -0.850  -0.845  -0.809  -0.738  -0.632
     -0.494  -0.335  -0.181  -0.056   0.020   0.042   0.012  -0.065  -0.191  -0.378
    """,
    axes=2,
)

SHANK_STANCE_G = _table(
    """
     -0.263   0.211   0.671   4.039   5.490   0.753  -0.624  -1.825  -2.697  -0.767
      0.846   2.014   3.425   2.455   1.129   1.467   2.086   2.273   2.409   2.486
      2.245   1.937   1.760   1.645   1.512   1.359   1.201   1.123   1.026   0.850
      1.229   0.854  -0.423  -2.951   0.634   2.648   1.588   1.068   1.709   1.683
      0.719   0.615   0.747   1.167   1.331   1.364   1.443   1.031   0.299  -0.356
     -0.669  -0.946  -1.284  -1.358  -1.191  -0.961  -0.697  -0.510  -0.427  -0.404
      0.808   0.239  -1.625  -1.475   1.176   1.245   2.023   2.266   1.830   1.587
      1.626   1.527   1.291   1.206   1.086   1.011   1.023   0.964   0.779   0.682
      0.596   0.434   0.216   0.009  -0.192  -0.405  -0.599  -0.769  -0.883  -0.972
    """,
    axes=3,
)

SHANK_SWING_G = _table(
    """
      0.596   0.325   0.309   0.441   0.600   0.694   0.732   0.813   0.874   0.888
      0.986   1.276   1.984   2.901   2.247   1.128   1.075   1.023   0.956   0.833
      0.541   0.293   0.137   0.047  -0.041  -0.154  -0.304  -0.387  -0.433  -0.266
      0.050   0.450   0.787   0.885   0.706   0.410   0.068  -0.307  -0.525  -0.546
     -0.429  -0.671  -1.017  -1.209  -1.208  -1.035  -0.921  -0.960  -0.951  -0.773
     -0.451  -0.049   0.645   1.308   1.263   0.284   0.141   0.675   1.047   1.078
      0.976   0.854   0.842   0.900   0.891   0.831   0.695   0.612   0.456   0.308
      0.358   0.620   0.760   0.659   0.243  -0.143  -0.126   0.304   0.723   1.115
     -1.054  -1.108  -1.052  -0.943  -0.721  -0.493  -0.326  -0.271  -0.191  -0.060
      0.106   0.349   0.828   1.245   1.278   1.200   1.354   1.802   1.922   1.939
      1.799   1.599   1.430   1.306   1.229   1.193   1.196   1.124   0.897   0.588
      0.498   0.555   0.621   0.540   0.250   0.127   0.143   0.230   0.386   0.693
    """,
    axes=3,
)

FOOT_STANCE_G = _table(
    """
      1.267   5.188  11.285  10.282   2.858  -3.991  -1.605   1.241   1.681   1.130
      0.855   1.163   0.844   0.855   0.673   0.535   0.380   0.217   0.112   0.207
      0.387   0.665   1.198   1.790   2.446   3.113   3.662   3.833   3.589   3.335
      1.147   0.306   1.419   0.441  -2.167  -2.298  -0.505  -0.228  -0.162  -0.121
     -0.163  -0.284  -0.523  -0.313  -0.398  -0.396  -0.302  -0.344  -0.334  -0.273
     -0.335  -0.466  -0.490  -0.499  -0.445  -0.278   0.082   0.492   0.770   0.839
     -1.680   1.239  -0.587  -0.555   0.678  -0.813   0.923   0.044   0.151   0.607
      0.717   0.585   0.640   0.938   1.227   1.434   1.585   1.540   1.447   1.305
      1.072   0.782   0.494   0.229  -0.032  -0.201  -0.247  -0.216  -0.207  -0.121
    """,
    axes=3,
)

FOOT_SWING_G = _table(
    """
      2.901   2.231   1.450   1.449   2.035   2.469   2.761   2.954   3.104   3.141
      3.195   3.284   3.322   3.154   2.606   1.886   1.373   1.148   1.112   1.262
      1.494   1.683   1.794   1.836   1.857   1.974   2.215   2.535   2.986   3.459
      3.919   4.482   4.985   5.017   4.387   3.661   2.960   2.423   2.151   1.498
      0.804   0.638   0.505   0.357   0.151  -0.245  -0.780  -1.061  -1.018  -0.817
     -0.531  -0.157   0.370   0.908   1.113   1.007   0.762   0.495   0.280   0.206
      0.219   0.234   0.248   0.270   0.247   0.113  -0.051  -0.115  -0.031  -0.037
     -0.350  -0.775  -0.850  -0.498   0.072   0.151   0.086   0.641   0.990   0.802
     -0.001   0.283   0.593   0.839   1.021   1.147   1.208   1.382   1.656   1.932
      2.150   2.363   2.614   2.706   2.399   1.859   1.293   0.796   0.428   0.216
      0.104   0.042   0.025   0.077   0.175   0.214   0.161   0.082  -0.035  -0.321
     -0.939  -1.908  -3.084  -4.165  -4.904  -5.574  -5.566  -4.417  -3.212  -2.945
    """,
    axes=3,
)

# Mean up acceleration over the level trials' whole recordings.
SACRUM_UP_MEAN_G: Final = 1.158
# Median single-step early-stance peak over the template's (peak - foot-on value); the shank's is
# a lower bound, its recordings clipped at 8 g.
SACRUM_IMPACT_SCALE: Final = 1.142
SHANK_IMPACT_SCALE: Final = 1.431
FOOT_IMPACT_SCALE: Final = 1.394

TEMPLATES: Final = {
    "sacrum": Template(
        SACRUM_STANCE_G,
        SACRUM_FLIGHT_G,
        ("x", "z"),
        "x=up (vertical) z=forward (anterior-posterior)",
        up_row=0,
        forward_row=1,
        per_stride=False,
        up_mean_g=SACRUM_UP_MEAN_G,
        impact_scale=SACRUM_IMPACT_SCALE,
        source="sacrum template: Alcantara et al. 2022 level trials (Apache-2.0)",
    ),
    "shank": Template(
        SHANK_STANCE_G,
        SHANK_SWING_G,
        ("x", "y", "z"),
        "x=up y=medio-lateral z=forward (sensor axes when standing)",
        up_row=0,
        forward_row=2,
        per_stride=True,
        up_mean_g=None,
        impact_scale=SHANK_IMPACT_SCALE,
        source="shank template: averaged from Bach et al. 2022 running trials",
    ),
    "foot": Template(
        FOOT_STANCE_G,
        FOOT_SWING_G,
        ("x", "y", "z"),
        "x=up y=side z=forward (sign of forward unknown)",
        up_row=0,
        forward_row=2,
        per_stride=True,
        up_mean_g=None,
        impact_scale=FOOT_IMPACT_SCALE,
        source="foot template: fuzzylabs/wearable-my-foot wmf-foot-run (Apache-2.0)",
    ),
}
