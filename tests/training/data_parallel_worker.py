"""One process of a data-parallel training run, for `test_multi_process.py`.

`python -m tests.training.data_parallel_worker OUTPUT TRAIN_LIST ROOT [launch flags]`
trains a tiny clip model with `fit_resumable` on `video_dataset` batches, each
process making its slice of every global batch, and writes `OUTPUT/model.keras`
(process 0). On TensorFlow, `--multi-host` joins the workers of `TF_CONFIG`, and
`--cpu-devices N` splits the CPU into N devices.
With `--exit-after-steps K`, process `--exit-process` dies after its K-th step, as a
killed host would.
"""

import argparse
import os
import sys

import keras

from keras_stw import data, training
from tests.training.after_steps import AfterSteps


def exit_now():
    """Leaves at once, without cleaning up, as a killed host would."""
    sys.stdout.flush()
    os._exit(3)


def build(steps_per_epoch):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4, 32, 32, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv3D(4, (1, 3, 3), strides=(1, 4, 4)),
            # Statistics of the global batch: the same whatever the process count.
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling3D(),
            keras.layers.Dense(4),
        ]
    )
    recipe = training.Recipe(learning_rate=0.01, milestones=(2,), epochs=2, batch_size=4)
    model.compile(recipe.optimizer(steps_per_epoch), "sparse_categorical_crossentropy")
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("train_list")
    parser.add_argument("root")
    parser.add_argument("--coordinator-address")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--multi-host", action="store_true")
    parser.add_argument("--cpu-devices", type=int, default=1)
    parser.add_argument("--exit-after-steps", type=int)
    parser.add_argument("--exit-process", type=int, default=1)
    args = parser.parse_args()
    multi_host = args.multi_host or args.num_processes is not None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        devices = [tf.config.LogicalDeviceConfiguration()] * args.cpu_devices
        tf.config.set_logical_device_configuration(cpu, devices)
    parallel = training.data_parallel(
        multi_host,
        coordinator_address=args.coordinator_address,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )
    print(parallel.description, flush=True)
    records = data.read_list(args.train_list, root=args.root)
    spec = data.ClipSpec(num_frames=4, training=True, image_size=32, short_side=32, flip=True)

    def batches(step):
        slices = data.video_dataset(
            records,
            spec,
            batch_size=4,
            repeat=True,
            seed=0,
            initial_step=step,
            workers=0,
            **parallel.shard,
        )
        return parallel.feed(slices, 4)

    callbacks = []
    if args.exit_after_steps and parallel.process_index == args.exit_process:
        callbacks.append(AfterSteps(args.exit_after_steps, exit_now))
    with parallel.scope:
        model = training.fit_resumable(
            lambda: build(steps_per_epoch=3),
            batches,
            directory=os.path.join(args.output, "backup"),
            epochs=2,
            steps_per_epoch=3,
            save_freq=1,
            callbacks=callbacks,
            # A validation pass every epoch over one global batch: the whole of a
            # dataset that a pass must read again from its start each epoch.
            validation_data=parallel.feed(
                data.video_dataset(
                    records.records[:4],
                    spec.for_testing(),
                    batch_size=4,
                    drop_remainder=True,
                    workers=0,
                    **parallel.shard,
                ),
                4,
            ),
            validation_steps=1,
            verbose=2,
        )
    # Every process saves; process 0 writes the file.
    training.save_model(model, os.path.join(args.output, "model.keras"))


if __name__ == "__main__":
    main()
