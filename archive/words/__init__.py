"""Words: a stage that reads kept videos' media and writes what is said and shown in them, with its times.

media (reading a kept video's media back from its WARC record), speech (faster-whisper), screen (OCR of one
keyframe a scene with Tesseract), keeping (the JSON metadata record in a WARC file of its own, stored and
stamped as every WARC file is), run (what is pending, one video at a time, failures stored), tables (the stage's
own rows: one line of text with its seconds and source, searchable). The crawler and the watch never import it.
"""
