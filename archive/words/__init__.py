"""Words: a stage that reads kept videos' media and writes what is said and shown in them, with its times.

media (a kept video's media read back from its WARC record, and the records stored beside it), captions (the
WebVTT tracks kept at capture), speech (faster-whisper), screen (OCR of one keyframe a scene with Tesseract),
reading (what a reader hands back), run (what is pending, one video at a time, failures stored), keeping (the
JSON metadata records in a WARC file of their own, stored and stamped as every WARC file is), round (one
round of every source, for the CLI, the scheduler and the worker), show (read back for people), tables (the
stage's own rows: one line of text with its seconds and source, searchable). The crawler and the watch never
import it.
"""
