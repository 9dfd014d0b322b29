"""Text preparation for synthesis: normalization and segmentation."""
