"""The kinds of label that segments, search and compare know (light: the CLI imports it).

Remote kinds come from Azure AI Vision (a frame's caption included); local kinds from the image
statistics every analysis has.
"""

LABEL_KINDS = ("tag", "object", "person", "text_line", "dense_caption", "caption")
LOCAL_KINDS = ("shot", "black")
SEGMENT_KINDS = LABEL_KINDS + LOCAL_KINDS
