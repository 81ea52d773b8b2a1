"""What-if analysis in a script: MobileNets' width and resolution multipliers, a
depthwise-separable VGG layer, a pooled head, and int8 on the phone's DSP.

    python examples/whatif_mobilenets.py

Prints, for each change, the totals before and after on a Snapdragon 855, and checks
MobileNet v1 at α = 0.5 against the paper's 149 M mult-adds and 1.3 M parameters
(Howard et al. 2017, Table 6).
"""

from __future__ import annotations

from graphs import build_zoo_model
from hardware_profiles import load
from planner import (
    DepthwiseSeparable,
    GlobalPoolingHead,
    Override,
    Resolution,
    WidthMultiplier,
    whatif,
)
from planner.report import render
from planner.report.whatif_table import whatif_totals_table


def main() -> None:
    phone = load("snapdragon_855")
    v1 = build_zoo_model("mobilenet_v1")
    half = whatif(v1, phone, [WidthMultiplier(0.5)])
    print(render(whatif_totals_table(half), "md"))
    macs, params = half.totals()["macs"][1], half.totals()["params"][1]
    print(f"MobileNet v1 α=0.5: {macs / 1e6:.1f} M MACs (paper: 149 M), "
          f"{params / 1e6:.2f} M parameters (paper: 1.3 M)")
    assert abs(macs / 149e6 - 1) < 0.01 and abs(params / 1.3e6 - 1) < 0.05

    smaller = whatif(v1, phone, [WidthMultiplier(0.75), Resolution(160)])
    print(render(whatif_totals_table(smaller), "md"))

    vgg = build_zoo_model("vgg16")
    slim = whatif(vgg, phone, [DepthwiseSeparable(), GlobalPoolingHead()])
    print(render(whatif_totals_table(slim), "md"))

    v2 = build_zoo_model("mobilenet_v2", weights=True)
    dsp = whatif(v2, phone, [Override("*", bits=8, processor="dsp"),
                             Override("classifier.1", bits=4)])
    print(render(whatif_totals_table(dsp), "md"))
    before, after = dsp.totals()["latency_s"]
    print(f"MobileNet v2 int8 on the DSP: {before / after:.1f}x faster than fp32 on the CPU "
          "by the roofline model")


if __name__ == "__main__":
    main()
