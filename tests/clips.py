"""The measurement clips with per-frame person ground truth (in ../shared/data)."""

GT_CLIPS = {  # name: (video, ground-truth folder)
    "lucia": ("video/davis/lucia/lucia.mp4", "video/davis/lucia/masks"),
    "hike": ("video/davis/hike/hike.mp4", "video/davis/hike/masks"),
    "tennis": ("video/davis/tennis/tennis.mp4", "video/davis/tennis/masks"),
    "greenscreen": ("video/greenscreen/d0_bookcase_composite.mp4", "video/greenscreen/alpha"),
}
