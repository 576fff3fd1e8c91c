"""The demo world: simulated Neuropixels sessions watching real natural stimuli, written as an Allen cache.

- :mod:`neurrator.world.stimuli`: natural_movie_one / natural_movie_three / natural_scenes analogs
  assembled from images and clips that ship inside registry packages;
- :mod:`neurrator.world.neurons`: the planted codes (LGd, V1, higher areas, hippocampus, PV/SST/VIP);
- :mod:`neurrator.world.allen_cache`: writes sessions in the on-disk format allensdk reads;
- :mod:`neurrator.world.simulate`: puts it together (``neurrator simulate``).
"""
