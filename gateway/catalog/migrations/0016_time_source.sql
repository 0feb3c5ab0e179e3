-- Where each segment's start time came from (docs/rtsp.md, "Time"):
-- 'rtcp' (the camera's RTCP sender reports, its NTP clock), 'arrival' (when the
-- gateway received the stream), 'header' (a push's X-Segment-Start) or
-- 'container' (the uploaded MP4's creation_time). NULL for rows stored before.
ALTER TABLE segments ADD COLUMN time_source TEXT;
