"""`python -m keras_stw predict video.mp4 --model model.keras --labels label_map.txt`.

And `python -m keras_stw convert CHECKPOINT --model tsm_resnet50 --out model.keras`.
"""

import sys

from keras_stw.cli import main

sys.exit(main())
