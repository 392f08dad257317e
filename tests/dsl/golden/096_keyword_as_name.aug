param data : real[3]
