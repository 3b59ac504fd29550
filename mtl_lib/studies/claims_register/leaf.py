"""The leaf-combination study (Alison, Jonathan & Suhartono), claim by claim."""

from __future__ import annotations

from mtl_lib.studies.claims_register.entry import Entry, not_yet, tested, untestable

CHAPTER = "leaf_combinations"
CHECK = "mtl_lib.studies.leaf_combinations:check_claims"
PLOTTED = "plot_figures draws it (its panel of the study's Figs. 6-9), but no claim object tests it yet"

ENTRIES: tuple[Entry, ...] = (
    tested("leaf.f_beats_e", "Abstract; Sec. III.B; Table II",
           "PCGrad with LaSS (F) reaches a higher task-averaged weighted F1 than PCGrad alone (E), by 0.0187.",
           CHAPTER, CHECK, "F (PCGrad+LaSS) beats E"),
    tested("leaf.f_beats_c", "Abstract; Table II",
           "F beats the Modulation Module alone (C) on average weighted F1, by 0.0268.",
           CHAPTER, CHECK, "F (PCGrad+LaSS) beats C"),
    tested("leaf.f_beats_b", "Abstract; Table II",
           "F beats LaSS alone (B) on average weighted F1, by 0.0243.",
           CHAPTER, CHECK, "F (PCGrad+LaSS) beats B"),
    tested("leaf.f_beats_a", "Sec. III.B (closing paragraph); Table II",
           "The unmitigated baseline A stays 0.0708 below F on average weighted F1.",
           CHAPTER, CHECK, "F (PCGrad+LaSS) beats A"),
    tested("leaf.h_not_above_f", "Sec. III.B; Table II",
           "Adding Modulation Modules to PCGrad with LaSS (H against F) costs 0.0193 of average weighted F1.",
           CHAPTER, CHECK, "H does not beat its best part F"),
    tested("leaf.g_not_above_e", "Sec. III.B; Table II",
           "PCGrad with Modulation (G) falls short of PCGrad alone (E) on average.",
           CHAPTER, CHECK, "G does not beat its best part E"),
    tested("leaf.d_not_above_b", "Sec. III.B; Table II",
           "Modulation with LaSS (D) brings nothing over LaSS alone (B).",
           CHAPTER, CHECK, "D does not beat its best part B"),
    not_yet("leaf.table2.f_best_of_eight", "Sec. III.B; Table II; Fig. 9",
            "F has the best average accuracy and the best average F1 of all eight approaches.",
            CHAPTER, "check_claims compares F with A, B, C and E on average F1 only; F against D, G and H, "
            "and the accuracy columns, have no claim object yet"),
    not_yet("leaf.text.single_methods_beat_a", "Sec. III.B; Table II",
            "Each single mitigation method (B, C, E) improves on the baseline A.",
            CHAPTER, "no claim object pairs B, C and E with A by fold yet"),
    not_yet("leaf.fig6.a_largest_gap", "Fig. 6; Sec. III.B",
            "The baseline A shows by far the widest gap between its task-2 and task-1 F1.", CHAPTER, PLOTTED),
    not_yet("leaf.fig6.single_methods_shrink_gap", "Fig. 6; Sec. III.B",
            "Any one mitigation method narrows that gap compared with A.", CHAPTER, PLOTTED),
    not_yet("leaf.fig7.f_best_task1", "Fig. 7; Sec. III.B",
            "On task 1 (species) F is clearly ahead of every other approach.", CHAPTER, PLOTTED),
    not_yet("leaf.fig8.f_below_b_task2", "Fig. 8; Sec. III.B",
            "On task 2 (health) F does slightly worse than B.",
            CHAPTER, PLOTTED + "; note that the study's own Table II puts F above B on both task-2 columns "
            "(F1 0.871 against 0.861), so its text and its table disagree"),
    not_yet("leaf.text.h_below_f_each_task", "Sec. III.B",
            "H is worse than F on each task separately, not only on average.",
            CHAPTER, "no per-task paired claim (species and health F1 of F − H) is built yet"),
    not_yet("leaf.text.g_narrower_gap_than_e", "Sec. III.B",
            "G has a narrower task gap than E although its average is lower.",
            CHAPTER, "no claim object compares the two gaps yet"),
    untestable("leaf.discussion.pcgrad_modulation_mechanism", "Sec. III.B",
               "The E-H results point to PCGrad's altered shared gradients not fitting the Modulation layers' "
               "weights.",
               CHAPTER, "an explanation of the G and H results, not a measurement; its observable part is "
               "tested as the G and H claims"),
    not_yet("leaf.discussion.lass_alpha", "Sec. III.B",
            "D and H may suffer because LaSS's masks remove capacity; another pruning fraction α could fix it.",
            CHAPTER, "needs a sweep over α for D and H, which no study runs"),
    untestable("leaf.table2.absolute_values", "Table II",
               "The absolute accuracies and F1 scores of the eight approaches on the leaf photographs.",
               CHAPTER, "needs the real photographs (Mendeley Data hb74ynkjcn, not available offline: the book "
               "trains on a generated stand-in) and the paper profile (8 approaches × 5 folds × 100 epochs, a "
               "GPU-size run)"),
    not_yet("leaf.data.image_counts", "Sec. II.B",
            "The data set holds 4,503 images of 12 plants, 2,278 healthy and 2,225 diseased.",
            CHAPTER, "the per-class file counts of the public release (shared/data/leaf-class-counts.csv) sum to "
            "4,502; no claim object compares them with the paper's numbers"),
    not_yet("leaf.method.modulation_few_parameters", "Sec. I; Sec. II.A",
            "Modulation Modules add relatively few parameters to the network.",
            CHAPTER, "the leaf model's parameter count with and without Modulation is computable, but no claim "
            "object states the ratio"),
    untestable("leaf.method.full_matrix_marginal", "Sec. II.A",
               "Full-matrix scaling would improve only marginally on per-channel scaling (from the Modulation "
               "paper).",
               CHAPTER, "a claim of the cited Modulation paper; the study and the book implement per-channel "
               "scaling only"),
    untestable("leaf.intro.literature", "Sec. I",
               "Background from the cited literature: MTL outperforming single-task models in many fields, and "
               "PCGrad's 'tragic triad'.",
               CHAPTER, "a summary of cited work, not a finding of this study"),
)  # fmt: skip
