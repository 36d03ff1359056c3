"""An LSTM over 5 steps of 8 features, classified from the last hidden state."""
import torch.nn as nn

INPUT_SHAPE = (5, 8)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_model():
    return Net()
