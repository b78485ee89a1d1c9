"""GENERATE_IMAGE: draw what was asked for (TEXT_SMALL writes the prompt, `model.IMAGE` draws)."""

from __future__ import annotations

import uuid
from typing import Any

from plugins.bootstrap.actions.common import ask, say, sender_name, transcript
from plugins.bootstrap.parsing import parse_key_values, strip_fences
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State


def image_urls(result: Any) -> list[str]:
    """URLs from an IMAGE model's answer: a URL, a list of URLs, or [{"url": ...}] / {"url"}."""
    items = result if isinstance(result, list) else [result]
    urls = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url.strip():
            urls.append(url.strip())
    return urls


async def generate_image_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Write an image prompt, generate the image and send it as an attachment."""
    raw = await ask(runtime, "TEXT_SMALL", "IMAGE_PROMPT_TEMPLATE", {
        "recentMessages": await transcript(runtime, message, state),
        "senderName": await sender_name(runtime, message, state),
    })  # fmt: skip
    prompt = parse_key_values(raw).get("prompt") or strip_fences(raw).strip() or message.text
    urls = image_urls(await runtime.use_model("IMAGE", {"prompt": prompt}))
    if not urls:
        await say(callback, message, {"text": "I couldn't generate that image.",
                                      "actions": ["GENERATE_IMAGE_FAILED"]})  # fmt: skip
        return ActionResult(success=False, error="the IMAGE model returned no image",
                            data={"actionName": "GENERATE_IMAGE", "prompt": prompt})  # fmt: skip
    attachments = [
        {"id": str(uuid.uuid5(message.id, url)), "url": url, "title": "Generated image",
         "contentType": "image", "source": "imageGeneration", "description": prompt,
         "text": prompt}
        for url in urls
    ]  # fmt: skip
    await say(callback, message, {"text": "Here's the image.", "attachments": attachments,
                                  "actions": ["GENERATE_IMAGE"]})  # fmt: skip
    return ActionResult(
        text=f"Generated an image: {prompt}",
        values={"imageGenerated": True, "imagePrompt": prompt},
        data={"actionName": "GENERATE_IMAGE", "prompt": prompt, "attachments": attachments},
    )


GENERATE_IMAGE = Action(
    name="GENERATE_IMAGE",
    similes=["DRAW", "CREATE_IMAGE", "MAKE_PICTURE", "IMAGINE", "PAINT"],
    description="Generate an image of what the conversation asks for and send it.",
    handler=generate_image_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "can you draw a cat in space?"}},
               {"name": "{{agentName}}", "content": {"text": "Here you go.",
                                                      "actions": ["GENERATE_IMAGE"]}}]],
)  # fmt: skip
