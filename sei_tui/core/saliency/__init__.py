"""Stage 2: interpretability. Grad-CAM at every split point in one pass, the
cumulative-saliency (CS) curve and its local maxima (the candidate splits)."""
