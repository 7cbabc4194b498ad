"""Label Studio configs of the triplet tests."""

TRIPLET_CONFIG = """<View>
  <Text name="anchor" value="$anchor"/>
  <Text name="first" value="$first"/>
  <Text name="second" value="$second"/>
  <Choices name="closer" toName="anchor" choice="single" required="true">
    <Choice value="The first is closer" alias="first"/>
    <Choice value="The second is closer" alias="second"/>
    <Choice value="Equally close" alias="tie"/>
  </Choices>
</View>"""
