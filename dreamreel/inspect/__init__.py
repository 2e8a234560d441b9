"""What a person looks at around a render: the timeline, the preview sheet, the report; the pages
themselves are drawn by ``dreamreel.views``."""
