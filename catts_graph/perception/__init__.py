"""Where the evidence is: CLIP relevance maps of image patches for a question (clip_relevance, imports torch when
used) and the perturbation regions of an item (regions: the whole image, its evidence boxes, or the patches CLIP
finds most relevant)."""
