"""Footage: a stage that reads kept videos and images and writes their frame fingerprints, to find the same
footage again after re-upload, re-encoding, cropping, banners, logos, black bars or mirroring.

frames (decoding with PyAV, sampling, cutting bars), hashes (PDQ), match (pure scoring), index (where hashes
are looked up), store (the stage's own tables: what was fingerprinted, what failed). The crawler and the
watch never import it: it learns of kept media through the database.
"""
