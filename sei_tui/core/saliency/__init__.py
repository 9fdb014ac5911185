"""Stage 2: interpretability. Grad-CAM at every split point in one pass, the
cumulative-saliency (CS) curve and its local maxima (the candidate splits).

cumulative    the entry point (cumulative_saliency) and the stage's public names
gradcam       the one-pass Grad-CAM: layouts, running sums, forward/backward hooks
curve         the CS curve, its maxima and the SaliencyResult record
result_cache  results on disk, keyed by model, weights, graph, dataset and target
"""
