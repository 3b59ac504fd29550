"""AdaTask (Yang et al., AAAI 2023), claim by claim."""

from __future__ import annotations

from mtl_lib.studies.claims_register.entry import Entry, not_yet, tested, untestable

RAU = "mtl_lib.studies.adatask_rau:check_claims"
SYNTHETIC = "mtl_lib.studies.adatask_synthetic:check_claims"
TABLES = "mtl_lib.studies.adatask_tables:synthetic_claims"
CITYSCAPES = "mtl_lib.studies.adatask_tables:cityscapes_claims"
PARETO = "mtl_lib.studies.survey_claims:gradient_balancing_claims"
LAYERS = ("the per-layer shares are computed (the layer column of the bucket frame, plot_buckets' panels) but no "
          "claim object tests them layer by layer yet")  # fmt: skip
NO_TIKTOK = "the TikTok data set is not available offline (a proprietary recommendation log)"
NO_WECHAT = "the WeChat data set is not available offline (a proprietary recommendation log)"

ENTRIES: tuple[Entry, ...] = (
    # ---- RQ1, Fig. 1: rAU as a measure of dominance
    tested("adatask.fig1.noise_hurts_b_more", "RQ1; Fig. 1",
           "Noise N(0, 0.05) on the 1 % of parameters with the highest rAU(B) raises task B's RMSE by about "
           "175 % but task A's by about 3 %.", "adatask_rau", RAU, "Noise N(0, 0.05) on the top-1 %"),
    tested("adatask.fig1.noise_grows_with_fraction", "RQ1; Fig. 1",
           "With N(0, 0.01) on the top 1 % to 20 % by rAU(B), B's error grows with the fraction (7.2 % to "
           "72.6 %) and stays above A's.", "adatask_rau", RAU, "With N(0, 0.01) on the top 1, 5, 10, 20 %"),
    tested("adatask.fig1.top_beats_random", "RQ1 (conclusion)",
           "A parameter with a high rAU for one task matters more to that task than to the others.",
           "adatask_rau", RAU, "High rAU(B) marks parameters"),
    # ---- RQ2, Fig. 2: how far existing methods are dominated
    tested("adatask.fig2.ew_dominated", "RQ2; Fig. 2(a)",
           "Under EqualWeight almost every shared parameter is dominated by task B.",
           "adatask_rau", RAU, "EqualWeight leaves ≥ 90 % of shared parameters"),
    tested("adatask.fig2.pcgrad_like_ew", "Fig. 2 caption",
           "PCGrad's picture is close to EqualWeight's.", "adatask_rau", RAU, "PCGrad is close to EqualWeight"),
    not_yet("adatask.fig2.uw_cagrad_partly", "RQ2 (2); Fig. 2(b, c)",
            "UW and CAGrad leave part of the shared parameters dominated by B, mitigating only slightly.",
            "adatask_rau", "UW and CAGrad are among the rAU runs (plot_buckets shows them), but no claim object "
            "bounds their dominated share yet"),
    tested("adatask.fig2.gradnorm_neither", "RQ2 (3); Fig. 2(d)",
           "About 78 % of GradNorm's shared parameters are dominated by neither task.",
           "adatask_rau", RAU, "GradNorm leaves most shared parameters"),
    not_yet("adatask.fig2.layers_dominated", "RQ2 (per layer)",
            "Under EqualWeight, PCGrad and UW every layer's shared parameters are dominated by B.",
            "adatask_rau", LAYERS),
    not_yet("adatask.fig2.gradnorm_layers", "RQ2 (per layer)",
            "GradNorm balances about 90 % of the first layer but only about 62 %, 61 % and 40 % of layers 2-4.",
            "adatask_rau", LAYERS),
    untestable("adatask.rq2.higher_layers_reason", "RQ2 (per layer)",
               "Higher layers may stay unbalanced because they learn task-specific features (after Yosinski et "
               "al.).", "adatask_rau", "an explanation borrowed from the literature, not a measured statement"),
    tested("adatask.fig2.ada_balanced", "Study on Task Dominance; Fig. 2(e)",
           "Under AdaTask more than 98 % of shared parameters are balanced (rAU(B) in (40 %, 60 %]).",
           "adatask_rau", RAU, "AdaTask(-RMSProp) leaves ≥ 90 % of shared parameters"),
    not_yet("adatask.fig2.adatask_every_layer", "Study on Task Dominance",
            "AdaTask's balance holds in each of the four layers after the first epochs.", "adatask_rau", LAYERS),
    # ---- RQ3: learning-rate dominance
    tested("adatask.rq3.joint_lr_set_by_b", "RQ3",
           "RMSProp's joint learning rate is close to the one task B would get alone.",
           "adatask_rau", RAU, "RMSProp's joint learning rate is set by task B"),
    not_yet("adatask.method.no_lr_dominance", "Study on Task Dominance (LR)",
            "AdaTask has no learning-rate dominance: each task's step uses only its own accumulated gradients.",
            "adatask_rau", "holds by construction in mtl_lib.optim's AdaTask (its unit tests check the per-task "
            "state), but no chapter measures each task's effective learning rate under AdaTask"),
    untestable("adatask.intro.adaptive_beats_sgd", "Introduction",
               "Adaptive learning-rate optimizers usually beat gradient descent with one global rate.",
               "adatask_rau", "stated with a pointer to the full version; the paper shows no experiment on it"),
    # ---- Table 2 and Table 5: synthetic data
    tested("adatask.synthetic.ew_dominates_a", "Table 2",
           "Under EqualWeight the dominated task A ends with a much larger normalized error than task B.",
           "synthetic_regression", SYNTHETIC, "Under equal weighting the dominated task A"),
    tested("adatask.synthetic.pcgrad_no_relief", "Table 2",
           "PCGrad does not relieve task A (its A error is no better than EqualWeight's).",
           "synthetic_regression", SYNTHETIC, "PCGrad does not relieve the dominated task"),
    tested("adatask.synthetic.absolute_errors_match", "Table 2",
           "EqualWeight's errors on the synthetic data are of the published size.",
           "synthetic_regression", SYNTHETIC, "The absolute errors match the paper's"),
    tested("adatask.table2.ada_lowers_a", "Table 2; Synthetic Dataset Results",
           "AdaTask lowers task A's error against EqualWeight (by 0.14).",
           "adatask_tables", TABLES, "AdaTask lowers the dominated task A"),
    tested("adatask.table2.ada_lowest_average", "Table 2",
           "AdaTask has the lowest average error of the six methods.",
           "adatask_tables", TABLES, "AdaTask has the lowest average error"),
    tested("adatask.table2.ada_pays_on_b", "Table 2; Conclusion",
           "AdaTask's gain on A costs some error on the dominant task B.",
           "adatask_tables", TABLES, "AdaTask pays on the dominant task B"),
    not_yet("adatask.table2.ada_vs_gradnorm_a", "Synthetic Dataset Results",
            "On task A AdaTask also beats the best baseline, GradNorm, by 0.04.",
            "adatask_tables", "the pairwise claims compare averages; AdaTask − GradNorm on task A has no claim "
            "object yet"),
    tested("adatask.table5.ladatask_between", "Table 5; Study on Efficient AdaTask",
           "The layer-wise LAdaTask improves task A over EqualWeight, but less than AdaTask.",
           "adatask_tables", TABLES, "LAdaTask (Table 5) improves task A"),
    untestable("adatask.table5.tiktok", "Table 5", "LAdaTask's TikTok row (average AUC 0.8321, weighted 0.8671).",
               "adatask_tables", NO_TIKTOK),
    not_yet("adatask.method.ladatask_memory", "Efficient AdaTask",
            "Sharing accumulators per layer removes most of AdaTask's K−1 extra optimizer variables.",
            "adatask_tables", "a statement about memory; no claim object counts the optimizers' state"),
    # ---- Table 1 and Fig. 3: CityScapes
    tested("adatask.fig3.segmentation_dominant", "Fig. 3; Table 1",
           "Segmentation is the dominant task (B) on CityScapes.",
           "adatask_tables", CITYSCAPES, "Segmentation is the dominant task"),
    tested("adatask.table1.ada_lowers_depth_errors", "Table 1; CityScapes Dataset Results",
           "AdaTask lowers both depth errors against EqualWeight (by 15.78 % and 21.59 %).",
           "adatask_tables", CITYSCAPES, "AdaTask lowers both depth errors"),
    tested("adatask.table1.ada_highest_delta_p", "Table 1",
           "AdaTask's Δp is positive and above every single baseline's (1.29 points over UW).",
           "adatask_tables", CITYSCAPES, "AdaTask has a positive Δp"),
    tested("adatask.table1.combining_helps", "Table 1",
           "Adding PCGrad or CAGrad to AdaTask raises Δp further (by about 1.2 points).",
           "adatask_tables", CITYSCAPES, "Combining helps"),
    tested("adatask.fig3.ew_gradnorm_dominated", "Fig. 3",
           "About 99 % (EqualWeight) and 95 % (GradNorm) of shared parameters are dominated by B on CityScapes.",
           "adatask_tables", CITYSCAPES, "EqualWeight and GradNorm leave ≥ 90 %"),
    tested("adatask.fig3.ada_balanced", "Fig. 3",
           "Under AdaTask 93 % of CityScapes' shared parameters are balanced.",
           "adatask_tables", CITYSCAPES, "AdaTask leaves ≥ 90 % of shared parameters balanced"),
    not_yet("adatask.table1.segmentation_kept", "CityScapes Dataset Results",
            "AdaTask stays close to EqualWeight on segmentation (task B).",
            "adatask_tables", "no claim object yet (an equivalence test on mIoU and pixel accuracy would test it)"),
    not_yet("adatask.table1.gridsearch", "Table 1",
            "A grid search over the loss weights beats EqualWeight.",
            "adatask_tables", "GridSearch is not among the methods the book runs"),
    not_yet("adatask.table1.no_domination", "CityScapes Dataset Results",
            "GradNorm, UW, PCGrad, CAGrad, AdaTask and MGDA do not dominate one another on all four metrics.",
            "adatask_tables", "the published tables are checked against AdaTask only (the Pareto remark's "
            "premise); no claim object tests mutual non-domination in our runs"),
    untestable("adatask.table1.absolute_values", "Table 1",
               "The absolute CityScapes numbers of every method (e.g. AdaTask's Abs Err 0.0128, Δp 9.34 %).",
               "adatask_tables", "needs MTAN's preprocessed CityScapes (not available offline: the book trains on "
               "a generated stand-in) and the paper's schedule, a GPU-size run"),
    # ---- Tables 3 and 4: recommendation data
    untestable("adatask.table3.tiktok", "Table 3; TikTok Dataset Results",
               "On TikTok AdaTask lifts task A's AUC (1.51 % over EqualWeight) and the average and weighted AUC.",
               "adatask_tables", NO_TIKTOK),
    untestable("adatask.table4.wechat", "Table 4; WeChat Dataset Results",
               "On WeChat AdaTask has the best average AUC (0.22 % over CAGrad) but not the best weighted AUC.",
               "adatask_tables", NO_WECHAT),
    untestable("adatask.table4.weighted_auc_reason", "WeChat Dataset Results",
               "CAGrad wins the weighted AUC because the dominant task D carries the largest weight.",
               "adatask_tables", NO_WECHAT),
    untestable("adatask.overall.four_datasets", "Abstract; Overall Results",
               "AdaTask reaches state-of-the-art average performance on all four data sets.", "adatask_tables",
               "two of the four data sets (TikTok, WeChat) are not available offline; the synthetic and CityScapes "
               "parts are the 'lowest average error' and 'highest Δp' claims"),
    # ---- the Pareto remark
    tested("adatask.pareto.premise", "Overall Results (Pareto perspective)",
           "No compared method beats AdaTask on every task metric.",
           "survey_gradient_balancing", PARETO, "AdaTask, Pareto remark (premise)"),
    tested("adatask.pareto.inference", "Overall Results (Pareto perspective)",
           "Hence AdaTask's solution is Pareto stationary.",
           "survey_gradient_balancing", PARETO, "AdaTask, Pareto remark (inference)"),
)  # fmt: skip
