"""Where the measurement data is (../shared/data from the current folder unless
LIVE_NST_SHARED_DATA says otherwise) and its clips with per-frame person ground truth."""

from live_nst.bench.context import data_dir_path

# The benchmark's rule (run the tests from the repository root); named in skip messages
# when it is not there.
SHARED_DATA = data_dir_path()

GT_CLIPS = {  # name: (video, ground-truth folder)
    "lucia": ("video/davis/lucia/lucia.mp4", "video/davis/lucia/masks"),
    "hike": ("video/davis/hike/hike.mp4", "video/davis/hike/masks"),
    "tennis": ("video/davis/tennis/tennis.mp4", "video/davis/tennis/masks"),
    "greenscreen": ("video/greenscreen/d0_bookcase_composite.mp4", "video/greenscreen/alpha"),
}
