"""Where the measurement data is (../shared/data unless LIVE_NST_SHARED_DATA says otherwise)
and its clips with per-frame person ground truth."""

from live_nst.bench.context import data_dir_candidates, default_data_dir

# The first candidate is the one named in skip messages when there is none.
SHARED_DATA = default_data_dir() or data_dir_candidates()[0]

GT_CLIPS = {  # name: (video, ground-truth folder)
    "lucia": ("video/davis/lucia/lucia.mp4", "video/davis/lucia/masks"),
    "hike": ("video/davis/hike/hike.mp4", "video/davis/hike/masks"),
    "tennis": ("video/davis/tennis/tennis.mp4", "video/davis/tennis/masks"),
    "greenscreen": ("video/greenscreen/d0_bookcase_composite.mp4", "video/greenscreen/alpha"),
}
