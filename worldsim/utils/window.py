"""A pygame window showing uint8 frames, upscaled; pygame is imported only when a window opens."""

from __future__ import annotations

import numpy as np


class FrameWindow:
    def __init__(self, title: str, scale: int, fps: int | None = None):
        self.title, self.scale, self.fps = title, int(scale), fps
        self._screen = None
        self._clock = None

    def show(self, frame: np.ndarray) -> None:
        import pygame

        h, w = frame.shape[0] * self.scale, frame.shape[1] * self.scale
        if self._screen is None:
            pygame.init()
            pygame.display.set_caption(self.title)
            self._screen = pygame.display.set_mode((w, h))
            self._clock = pygame.time.Clock()
        pygame.event.pump()
        surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.blit(pygame.transform.scale(surf, (w, h)), (0, 0))
        pygame.display.flip()
        if self.fps:
            self._clock.tick(self.fps)

    def close(self) -> None:
        if self._screen is not None:
            import pygame

            pygame.display.quit()
            self._screen = None


class RendersFrames:
    """Gymnasium rendering for envs that keep their current frame in ``self._frame``: ``rgb_array`` returns a
    copy, ``human`` shows it in a ``FrameWindow`` (``window_title``, ``window_scale``, ``window_fps``)."""

    _frame: np.ndarray | None = None
    _window: FrameWindow | None = None
    window_title = "worldsim"
    window_scale = 8
    window_fps: int | None = None

    def render(self):
        import gymnasium as gym

        if self._frame is None:
            raise gym.error.ResetNeeded(f"{type(self).__name__}: call reset() before render()")
        if self.render_mode == "rgb_array":
            return self._frame.copy()
        if self.render_mode == "human":
            self._show()
        return None

    def _show(self) -> None:
        if self._window is None:
            self._window = FrameWindow(self.window_title, self.window_scale, self.window_fps)
        self._window.show(self._frame)

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
