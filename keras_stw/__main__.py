"""`python -m keras_stw predict video.mp4 --model model.keras --labels label_map.txt`."""

import sys

from keras_stw.cli import main

sys.exit(main())
